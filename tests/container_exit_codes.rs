//! Rule: `docker run`'s exit code (`.State.ExitCode`) is the shell's convention when usher is
//! the entrypoint: 127 command not found, 126 not executable, 128+N when signal N killed the
//! app, and the app's own status otherwise.
mod common;
#[path = "common/docker.rs"]
mod docker;

use docker::Container;

#[test]
fn exit_codes_reach_docker() {
    let Some(image) = docker::base_image() else {
        return;
    };
    for (args, code) in [
        (&["no-such-command"][..], 127),
        (&["/etc/passwd"][..], 126),
        (&["sh", "-c", "kill -USR1 $$"][..], 138),
        (&["sh", "-c", "kill -KILL $$"][..], 137),
        (&["sh", "-c", "exit 3"][..], 3),
    ] {
        let mut all = vec![image];
        all.extend_from_slice(args);
        let (got, logs, _c) = Container::run("exit", &all);
        assert_eq!(got, code, "{args:?}\n{logs}");
    }
}
