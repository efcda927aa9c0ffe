//! Rule: the Kubernetes examples use usher as documented. No cluster can run here, so the
//! manifests are parsed (python3's YAML) and checked against the real binary: every usher
//! subcommand and flag in a command or probe and every `USHER_*` variable is one `usher --help`
//! lists, the variables' values are accepted by usher itself, the database URL comes from a
//! Secret, the migrating Deployment has a startupProbe sized for migrations, and the Job
//! alternative runs `usher migrate` with `USHER_MIGRATE=never` in the Deployment.
mod common;

use serde_json::Value;

fn python() -> Option<std::path::PathBuf> {
    // Debian's python3 has python3-yaml (installed by .ci/run); a python3 of one's own may not.
    ["/usr/bin/python3"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| common::which("python3"))
}

fn load(name: &str) -> Option<Vec<Value>> {
    let python = python();
    if !common::prerequisite(
        python.is_some(),
        "python3 with PyYAML (Debian's python3-yaml)",
    ) {
        return None;
    }
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/").to_string() + name;
    let run = common::run(
        std::process::Command::new(python.unwrap())
            .args([
                "-c",
                "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            ])
            .arg(&file),
    );
    if !common::prerequisite(
        run.code() == Some(0) || !run.stderr().contains("No module named 'yaml'"),
        "python3's yaml module (Debian's python3-yaml; .ci/run installs it)",
    ) {
        return None;
    }
    run.expect_code(0);
    Some(serde_json::from_str(&run.stdout()).expect("JSON from python"))
}

fn help() -> String {
    let run = common::run(common::usher().arg("--help"));
    run.expect_code(0);
    run.stdout()
}

fn containers(doc: &Value) -> Vec<&Value> {
    let spec = &doc["spec"]["template"]["spec"];
    spec["containers"]
        .as_array()
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a usher command line (`/usr/local/bin/usher SUBCOMMAND ARGS…`) against --help.
fn check_usher_command(cmd: &[String], help: &str) {
    assert!(cmd[0].ends_with("/usher"), "{cmd:?}");
    let sub = &cmd[1];
    assert!(
        help.contains(&format!("usher {sub}")) || help.contains(&format!("usher [OPTIONS] {sub}")),
        "usher has no subcommand {sub:?}: {cmd:?}"
    );
    for arg in &cmd[2..] {
        if let Some(flag) = arg.strip_prefix("--") {
            assert!(
                help.contains(&format!("--{flag}")),
                "usher --help lists no --{flag}: {cmd:?}"
            );
        }
    }
}

/// Checks one container: probes, usher commands, variables; returns its env as pairs.
fn check_container(c: &Value, help: &str) -> Vec<(String, Value)> {
    let command = strings(&c["command"]);
    if !command.is_empty() {
        check_usher_command(&command, help);
    }
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let cmd = strings(&c[probe]["exec"]["command"]);
        if !cmd.is_empty() {
            assert_eq!(cmd[1], "health", "{probe}: {cmd:?}");
            check_usher_command(&cmd, help);
        }
    }
    let env: Vec<(String, Value)> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect();
    let mut usher_env = Vec::new();
    for (name, e) in &env {
        if name.starts_with("USHER_") {
            assert!(
                help.contains(&format!("env {name},")),
                "usher has no {name}"
            );
            usher_env.push((name.clone(), e["value"].as_str().unwrap().to_string()));
        }
        if name == "DATABASE_URL" {
            let secret = &e["valueFrom"]["secretKeyRef"];
            assert_eq!(
                secret["name"], "my-app-db",
                "DATABASE_URL from the Secret: {e}"
            );
            assert_eq!(secret["key"], "url");
        }
    }
    assert!(
        env.iter().any(|(n, _)| n == "DATABASE_URL"),
        "no DATABASE_URL: {c}"
    );
    // usher itself accepts the values (the user and migrations directory do not exist here).
    let mut cmd = common::usher();
    for (name, value) in &usher_env {
        if name != "USHER_USER" && name != "USHER_MIGRATIONS" {
            cmd.env(name, value);
        }
    }
    common::run(cmd.args(["--", "true"])).expect_code(0);
    env
}

fn value_of<'a>(env: &'a [(String, Value)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, e)| e["value"].as_str())
}

#[test]
fn deployment_migrating_at_start() {
    let Some(docs) = load("kubernetes.yaml") else {
        return;
    };
    let help = help();
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret")
        .expect("a Secret");
    assert_eq!(secret["metadata"]["name"], "my-app-db");
    assert!(secret["stringData"]["url"].is_string());
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let web = containers(deployment)[0];
    let env = check_container(web, &help);
    assert_ne!(value_of(&env, "USHER_MIGRATE"), Some("never"));
    let startup = &web["startupProbe"];
    let budget = startup["periodSeconds"].as_u64().unwrap_or(10)
        * startup["failureThreshold"].as_u64().unwrap_or(3);
    assert!(
        budget >= 300,
        "the startupProbe allows {budget} s: size it for the migrations"
    );
}

#[test]
fn migration_job_and_deployment_that_does_not_migrate() {
    let Some(docs) = load("kubernetes-job.yaml") else {
        return;
    };
    let help = help();
    let job = docs.iter().find(|d| d["kind"] == "Job").expect("a Job");
    let migrate = containers(job)[0];
    assert_eq!(
        strings(&migrate["command"]),
        ["/usr/local/bin/usher", "migrate"]
    );
    check_container(migrate, &help);
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let env = check_container(containers(deployment)[0], &help);
    assert_eq!(value_of(&env, "USHER_MIGRATE"), Some("never"));
}
