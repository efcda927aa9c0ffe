//! The container suite's engine, images and containers: a real Docker engine (started by
//! `.ci/run`), the static release binary (`USHER_STATIC_BIN`, built by `.ci/run`), and the few
//! small images every `tests/container_*.rs` file shares.
//!
//! Include with `mod common;` and `#[path = "common/docker.rs"] mod docker;`.
//!
//! Images are built once per test run and shared by the parallel test binaries: an image's tag
//! is a hash of everything that goes into it, and building runs under `flock(1)` on one lock
//! file, so the first binary builds it and the others find it. Nothing is pulled (there is no
//! registry here): the base image is `FROM scratch` with the static usher, Debian's static
//! busybox (a shell and tools for the test apps) and fixture `/etc/passwd` and `/etc/group`.
//! Every container runs with `--network host`, so it reaches the harness's PostgreSQL and
//! MariaDB on 127.0.0.1, and is removed when its `Container` is dropped, failing test or not.
#![allow(dead_code)]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::{self, Run, prerequisite};

/// The fixture users of the base image: root, `app` (1000:1000) and nobody.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
app:x:1000:1000:app:/home/app:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const GROUP: &str = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n";

/// Serialises image builds across the test binaries of one run.
const LOCK: &str = "/tmp/usher-test-docker-images.lock";

/// What the container tests need: the engine answers and the static binary exists.
pub struct Engine {
    /// The static `usher` copied into the images.
    pub usher: PathBuf,
    busybox: PathBuf,
}

/// The engine and binary, or a loud skip (a failure under `CI=true`).
pub fn engine() -> Option<&'static Engine> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    let found = ENGINE.get_or_init(|| {
        if common::which("docker").is_none() {
            return Err(
                "the `docker` CLI and a running engine; .ci/run installs Debian's \
                        docker.io and starts dockerd"
                    .into(),
            );
        }
        let info = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(Stdio::null())
            .output();
        if !info.is_ok_and(|o| o.status.success()) {
            return Err(
                "a Docker engine that answers `docker info`; .ci/run starts dockerd \
                        (--storage-driver vfs --bridge none)"
                    .into(),
            );
        }
        let usher = std::env::var_os("USHER_STATIC_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/x86_64-unknown-linux-musl/release/usher")
            });
        if !usher.is_file() {
            return Err(format!(
                "the static usher at {} (USHER_STATIC_BIN); build it with `cargo build --release \
                 --target x86_64-unknown-linux-musl`, as .ci/run does",
                usher.display()
            ));
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or("Debian's busybox-static (/bin/busybox); .ci/run installs it")?;
        Ok(Engine { usher, busybox })
    });
    match found {
        Ok(engine) => Some(engine),
        Err(why) => {
            let _ = prerequisite(false, why);
            None
        }
    }
}

/// `docker ARGS…`, run to completion.
pub fn docker(args: &[&str]) -> Run {
    let mut cmd = Command::new("docker");
    cmd.args(args).stdin(Stdio::null());
    common::run(&mut cmd)
}

/// `docker ARGS…`, which must succeed; returns its trimmed stdout.
#[track_caller]
pub fn docker_ok(args: &[&str]) -> String {
    let run = docker(args);
    run.expect_code(0);
    run.stdout().trim().to_string()
}

fn hash_hex(parts: &[&[u8]]) -> String {
    let mut h = DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// Builds `context` (which holds a `Dockerfile`) as `tag` unless the engine already has it,
/// under the lock shared with the other test binaries. `extra` are more `docker build` flags.
/// `--force-rm`: a failing step leaves no stopped container behind.
pub fn build_once(tag: &str, context: &Path, extra: &[&str]) {
    let mut build = vec![
        "docker",
        "build",
        "-q",
        "--force-rm",
        "--network",
        "host",
        "-t",
        tag,
    ];
    build.extend_from_slice(extra);
    let build: Vec<String> = build.iter().map(common::sh_quote).collect();
    let script = format!(
        "docker image inspect {tag} >/dev/null 2>&1 || {} {}",
        build.join(" "),
        common::sh_quote(context)
    );
    let mut cmd = Command::new("flock");
    cmd.args([LOCK, "sh", "-c", &script])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null());
    common::run(&mut cmd).expect_code(0);
}

/// The base image: `FROM scratch` with `/usr/local/bin/usher` (the static build), busybox and
/// its applets in `/bin`, the fixture users, a world-writable `/tmp`, and usher as the
/// entrypoint (`ENTRYPOINT ["/usr/local/bin/usher", "--"]`).
pub fn base_image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let engine = engine()?;
            let usher = std::fs::read(&engine.usher).expect("read the static usher");
            let busybox = std::fs::read(&engine.busybox).expect("read busybox");
            let dockerfile =
                "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/usr/local/bin/usher\", \"--\"]\n";
            let tag = format!(
                "usher-test/base:{}",
                hash_hex(&[
                    &usher,
                    &busybox,
                    PASSWD.as_bytes(),
                    GROUP.as_bytes(),
                    dockerfile.as_bytes()
                ])
            );
            let ctx = common::TempDir::new("image-base");
            let root = ctx.join("rootfs");
            for dir in ["bin", "etc", "usr/local/bin", "tmp", "home/app", "data"] {
                std::fs::create_dir_all(root.join(dir)).unwrap();
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
                .unwrap();
            std::fs::copy(&engine.usher, root.join("usr/local/bin/usher")).unwrap();
            std::fs::copy(&engine.busybox, root.join("bin/busybox")).unwrap();
            let list = Command::new(&engine.busybox)
                .arg("--list")
                .output()
                .expect("busybox --list");
            for applet in String::from_utf8_lossy(&list.stdout).lines() {
                if applet != "busybox" && !applet.is_empty() {
                    let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
                }
            }
            std::fs::write(root.join("etc/passwd"), PASSWD).unwrap();
            std::fs::write(root.join("etc/group"), GROUP).unwrap();
            std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
            build_once(&tag, ctx.path(), &[]);
            Some(tag)
        })
        .as_deref()
}

/// A one-off image `FROM` the base image with more Dockerfile lines (metadata such as a
/// `HEALTHCHECK`; no files, so it costs no layer copy). Removed when dropped.
pub struct DerivedImage {
    pub tag: String,
}

impl DerivedImage {
    pub fn new(base: &str, lines: &str) -> DerivedImage {
        let tag = format!("usher-test/{}", unique_name("derived"));
        let ctx = common::TempDir::new("image-derived");
        std::fs::write(ctx.join("Dockerfile"), format!("FROM {base}\n{lines}\n")).unwrap();
        let mut cmd = Command::new("docker");
        cmd.args(["build", "-q", "--force-rm", "--network", "host", "-t", &tag])
            .arg(ctx.path())
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null());
        common::run(&mut cmd).expect_code(0);
        DerivedImage { tag }
    }
}

impl Drop for DerivedImage {
    fn drop(&mut self) {
        let _ = docker(&["image", "rm", "-f", &self.tag]);
    }
}

/// A name no other container, volume or image of this run uses.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "usher-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A named volume, removed when dropped.
pub struct Volume {
    pub name: String,
}

impl Volume {
    pub fn new(tag: &str) -> Volume {
        let name = unique_name(tag);
        docker_ok(&["volume", "create", &name]);
        Volume { name }
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = docker(&["volume", "rm", "-f", &self.name]);
    }
}

/// A container started with `docker run -d --network host`; removed (with its anonymous
/// volumes) when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name NAME --network host ARGS…` (ARGS: options, the image, the command).
    #[track_caller]
    pub fn start(tag: &str, args: &[&str]) -> Container {
        Container::start_on("host", tag, args)
    }

    /// `docker run -d --name NAME --network NETWORK ARGS…`. `none` gives the container a
    /// loopback of its own: an image's own ports (and a `HEALTHCHECK` probing them) work as
    /// written, with no clash on the host's.
    #[track_caller]
    pub fn start_on(network: &str, tag: &str, args: &[&str]) -> Container {
        let name = unique_name(tag);
        let mut all = vec!["run", "-d", "--name", &name, "--network", network];
        all.extend_from_slice(args);
        let container = Container { name: name.clone() };
        docker_ok(&all);
        container
    }

    /// Runs to completion; returns the exit code and the logs (stdout then stderr).
    #[track_caller]
    pub fn run(tag: &str, args: &[&str]) -> (i32, String, Container) {
        let c = Container::start(tag, args);
        let code = c.wait(Duration::from_secs(120));
        let logs = c.logs();
        (code, logs, c)
    }

    /// Waits for the container to exit; returns its `.State.ExitCode`.
    #[track_caller]
    pub fn wait(&self, timeout: Duration) -> i32 {
        let started = Instant::now();
        while self.inspect("{{.State.Running}}") == "true" {
            assert!(
                started.elapsed() < timeout,
                "{} still running after {timeout:?}\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.exit_code()
    }

    pub fn exit_code(&self) -> i32 {
        self.inspect("{{.State.ExitCode}}")
            .parse()
            .expect("an exit code")
    }

    /// `docker inspect -f FORMAT`.
    pub fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.name])
    }

    /// Everything the container wrote: stdout, then stderr.
    pub fn logs(&self) -> String {
        docker(&["logs", &self.name]).all_output()
    }

    /// Waits until the logs contain `needle`.
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let started = Instant::now();
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "{} did not log {needle:?} within {timeout:?}; state {}\n--- logs ---\n{logs}",
                self.name,
                self.inspect("{{json .State}}")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `.State.Health.Status` is `status`.
    #[track_caller]
    pub fn wait_for_health(&self, status: &str, timeout: Duration) {
        let started = Instant::now();
        loop {
            let now = self.inspect("{{if .State.Health}}{{.State.Health.Status}}{{end}}");
            if now == status {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "{} not {status} within {timeout:?} (now {now:?}): {}\n--- logs ---\n{}",
                self.name,
                self.inspect("{{json .State.Health}}"),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `docker stop -t GRACE`; returns how long it took.
    #[track_caller]
    pub fn stop(&self, grace_seconds: u32) -> Duration {
        let started = Instant::now();
        docker_ok(&["stop", "-t", &grace_seconds.to_string(), &self.name]);
        started.elapsed()
    }

    /// `docker kill -s SIGNAL`.
    #[track_caller]
    pub fn kill(&self, signal: &str) {
        docker_ok(&["kill", "-s", signal, &self.name]);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.name]);
    }
}

/// An image that holds the static usher as `/usher` and busybox as `/bin/sh`: what the
/// examples' builder stages produce, given to them as their "Rust" image so they skip
/// compiling (see Dockerfile.example).
pub fn prebuilt_usher_image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let engine = engine()?;
            let usher = std::fs::read(&engine.usher).expect("read the static usher");
            let busybox = std::fs::read(&engine.busybox).expect("read busybox");
            let dockerfile = "FROM scratch\nCOPY rootfs/ /\n";
            let tag = format!(
                "usher-test/prebuilt:{}",
                hash_hex(&[&usher, &busybox, dockerfile.as_bytes()])
            );
            let ctx = common::TempDir::new("image-prebuilt");
            let root = ctx.join("rootfs");
            std::fs::create_dir_all(root.join("bin")).unwrap();
            std::fs::copy(&engine.usher, root.join("usher")).unwrap();
            std::fs::copy(&engine.busybox, root.join("bin/sh")).unwrap();
            std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
            build_once(&tag, ctx.path(), &[]);
            Some(tag)
        })
        .as_deref()
}

/// A Debian bookworm base with Debian's nodejs, made with `mmdebstrap` from Debian's packages
/// and `docker import`ed (no registry here to pull `node:22-bookworm-slim` from): ~40 s once
/// per engine. `passwd` is included for `useradd`, as in the official slim images.
pub fn node_base_image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            engine()?;
            if !prerequisite(
                common::which("mmdebstrap").is_some(),
                "mmdebstrap (Debian's package) for the Node base image; .ci/run installs it",
            ) {
                return None;
            }
            let tag = "usher-test/bookworm-node:1";
            let out = common::TempDir::new("image-node");
            let tar = out.join("rootfs.tar");
            // Suite only, no mirror: mmdebstrap then uses Debian's default mirror with the
            // security and updates suites. The merged-/usr hook keeps Perl out (~50 MB).
            let script = format!(
                "docker image inspect {tag} >/dev/null 2>&1 && exit 0; \
                 mmdebstrap --quiet --mode=root --variant=minbase \
                 --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
                 --include=nodejs,ca-certificates,passwd \
                 --aptopt='APT::Install-Recommends \"false\"' \
                 --dpkgopt='path-exclude=/usr/share/man/*' \
                 --dpkgopt='path-exclude=/usr/share/doc/*' \
                 --dpkgopt='path-exclude=/usr/share/locale/*' \
                 bookworm {tar} && docker import -c 'CMD [\"node\"]' {tar} {tag}",
                tar = common::sh_quote(&tar)
            );
            let mut cmd = Command::new("flock");
            cmd.args([LOCK, "sh", "-c", &script]).stdin(Stdio::null());
            common::run(&mut cmd).expect_code(0);
            Some(tag.to_string())
        })
        .as_deref()
}

/// A Debian bookworm base with Node and npm, standing in for `node:20-slim` (which has npm; the
/// Node base above has none). Where this machine's Node ships npm self-contained in
/// /usr/lib/node_modules/npm (the nodejs.org and NodeSource builds), that `node` and npm are
/// copied into the minbase with `libstdc++6` (reference.md, "A Node base image with no
/// registry"); otherwise Debian's own `nodejs` and `npm` packages are installed (Node 18.19,
/// which Prisma 6 accepts). A build on it reaches the npm registry through this machine's TLS
/// proxy, so the machine's CA bundle is copied in too and named in `NODE_EXTRA_CA_CERTS`: a
/// property of this test machine, not of the images built on it. Once per engine.
pub fn node_npm_base_image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            engine()?;
            if !prerequisite(
                common::which("mmdebstrap").is_some(),
                "mmdebstrap (Debian's package) for the Node + npm base image; .ci/run installs it",
            ) {
                return None;
            }
            let node = common::which("node");
            let host_npm = node.is_some()
                && Path::new("/usr/lib/node_modules/npm/bin/npm-cli.js").is_file()
                && Path::new("/usr/lib/node_modules/npm/node_modules").is_dir();
            let (tag, node_parts) = if host_npm {
                let version = Command::new(node.unwrap())
                    .arg("--version")
                    .output()
                    .expect("node --version");
                let version = String::from_utf8_lossy(&version.stdout)
                    .trim()
                    .trim_start_matches('v')
                    .to_string();
                (
                    format!("usher-test/bookworm-node-npm:{version}"),
                    "--include=ca-certificates,libstdc++6,passwd \
                     --customize-hook='cp \"$(command -v node)\" \"$1/usr/bin/node\"' \
                     --customize-hook='mkdir -p \"$1/usr/lib/node_modules\" && \
                     cp -a /usr/lib/node_modules/npm \"$1/usr/lib/node_modules/\"' \
                     --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js \"$1/usr/bin/npm\"' \
                     --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js \"$1/usr/bin/npx\"'",
                )
            } else {
                (
                    "usher-test/bookworm-node-npm:debian".to_string(),
                    "--include=ca-certificates,passwd,nodejs,npm",
                )
            };
            let out = common::TempDir::new("image-node-npm");
            let tar = out.join("rootfs.tar");
            let script = format!(
                "docker image inspect {tag} >/dev/null 2>&1 && exit 0; \
                 mmdebstrap --quiet --mode=root --variant=minbase \
                 --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
                 --aptopt='APT::Install-Recommends \"false\"' \
                 --dpkgopt='path-exclude=/usr/share/man/*' \
                 --dpkgopt='path-exclude=/usr/share/doc/*' \
                 --dpkgopt='path-exclude=/usr/share/locale/*' \
                 {node_parts} \
                 --customize-hook='cp /etc/ssl/certs/ca-certificates.crt \"$1/etc/ssl/certs/\"' \
                 bookworm {tar} && docker import \
                 -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
                 -c 'CMD [\"node\"]' {tar} {tag}",
                tar = common::sh_quote(&tar)
            );
            let mut cmd = Command::new("flock");
            cmd.args([LOCK, "sh", "-c", &script]).stdin(Stdio::null());
            common::run(&mut cmd).expect_code(0);
            Some(tag)
        })
        .as_deref()
}

/// Dockerfile.example built from this checkout with the local base images: the Node base for
/// `NODE_IMAGE`, the prebuilt usher for `RUST_IMAGE`. Shared by the tests that run the example
/// app (it takes ~1 min on vfs).
pub fn example_app_image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let engine = engine()?;
            let node = node_base_image()?;
            let prebuilt = prebuilt_usher_image()?;
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let mut parts: Vec<Vec<u8>> = vec![
                std::fs::read(&engine.usher).unwrap(),
                std::fs::read(root.join("Dockerfile.example")).unwrap(),
            ];
            let app = root.join("examples/node-app");
            let mut files = Vec::new();
            collect_files(&app, &mut files);
            files.sort();
            for f in files {
                parts.push(f.to_string_lossy().into_owned().into_bytes());
                parts.push(std::fs::read(&f).unwrap());
            }
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let tag = format!("usher-test/example-app:{}", hash_hex(&refs));
            let node_arg = format!("NODE_IMAGE={node}");
            let rust_arg = format!("RUST_IMAGE={prebuilt}");
            build_once(
                &tag,
                root,
                &[
                    "-f",
                    &root.join("Dockerfile.example").to_string_lossy(),
                    "--build-arg",
                    &node_arg,
                    "--build-arg",
                    &rust_arg,
                ],
            );
            Some(tag)
        })
        .as_deref()
}

/// An image built from `dockerfile` (a path in this checkout) with the checkout's root as the
/// build context, as the examples' Dockerfiles are documented to be built; `sources` are the
/// files and directories it copies in (their contents go into the tag, so an edit rebuilds),
/// `build_args` its `--build-arg`s. Built once per engine, like every image here.
pub fn checkout_image(
    name: &str,
    dockerfile: &str,
    sources: &[&str],
    build_args: &[(&str, &str)],
) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut parts: Vec<Vec<u8>> = vec![std::fs::read(root.join(dockerfile)).unwrap()];
    for (k, v) in build_args {
        parts.push(format!("{k}={v}").into_bytes());
    }
    let mut files = Vec::new();
    for source in sources {
        let path = root.join(source);
        if path.is_dir() {
            collect_files(&path, &mut files);
        } else {
            files.push(path);
        }
    }
    files.sort();
    for f in files {
        parts.push(f.to_string_lossy().into_owned().into_bytes());
        parts.push(std::fs::read(&f).unwrap());
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let tag = format!("usher-test/{name}:{}", hash_hex(&refs));
    let mut extra = vec![
        "-f".to_string(),
        root.join(dockerfile).to_string_lossy().into_owned(),
    ];
    for (k, v) in build_args {
        extra.push("--build-arg".to_string());
        extra.push(format!("{k}={v}"));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    build_once(&tag, root, &extra);
    tag
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
