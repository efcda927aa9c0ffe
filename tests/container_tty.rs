//! Rule: under `docker run -it`, Ctrl-C typed on the terminal stops the app (exit 130), as it
//! would without usher. The terminal is a pty made by `script`.
mod common;
#[path = "common/docker.rs"]
mod docker;

use common::live::Live;

/// Removes the container when the test ends, however it ends.
struct Remove(String);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = docker::docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn ctrl_c_on_docker_run_it_stops_the_app_with_130() {
    let Some(image) = docker::base_image() else {
        return;
    };
    if !common::require_tool("script") {
        return;
    }
    let name = docker::unique_name("tty");
    let _remove = Remove(name.clone());
    let command = format!(
        "docker run -it --rm --name {name} --network host {image} sh -c 'echo ready; exec sleep 1000'"
    );
    let mut cmd = std::process::Command::new("script");
    // -q: no banner; -e: script's exit code is the command's; the typescript is discarded.
    cmd.args(["-q", "-e", "-c", &command, "/dev/null"]);
    let mut run = Live::start_with_stdin(&mut cmd);
    run.wait_for_stdout("ready");
    run.write_stdin(b"\x03");
    run.expect_code(130);
}
