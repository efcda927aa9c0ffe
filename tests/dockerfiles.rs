//! Rule: every Dockerfile the project ships builds on the classic builder (no `# syntax=`
//! line, no BuildKit-only flags such as `COPY --chmod` or named build contexts), takes its
//! base images as build arguments, and uses only usher options and variables that
//! `usher --help` lists. The container suite builds Dockerfile.example,
//! examples/sqlite/Dockerfile and examples/node-prisma/Dockerfile (and its usher-less
//! Dockerfile.before, which is not checked here); this check also covers
//! examples/scratch-go.Dockerfile, which cannot be built here (no Go toolchain image, no Go
//! program).
mod common;

const FILES: &[&str] = &[
    "Dockerfile.example",
    "examples/sqlite/Dockerfile",
    "examples/scratch-go.Dockerfile",
    "examples/node-prisma/Dockerfile",
];

#[test]
fn dockerfiles_use_classic_builder_syntax_and_real_usher_options() {
    let help = common::run(common::usher().arg("--help"));
    help.expect_code(0);
    let help = help.stdout();
    for file in FILES {
        let text =
            std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        // A parser directive: the frontend it names would be pulled.
        assert!(
            !text
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("# syntax=")),
            "{file}: a # syntax= line pulls a frontend"
        );
        for flag in [
            "--chmod",
            "--link",
            "--mount=",
            "--build-context",
            "--from=usher-src",
        ] {
            assert!(
                !text
                    .lines()
                    .any(|l| !l.trim_start().starts_with('#') && l.contains(flag)),
                "{file}: {flag} needs BuildKit"
            );
        }
        let mut stages: Vec<&str> = Vec::new();
        for line in text.lines().map(str::trim) {
            if let Some(from) = line.strip_prefix("FROM ") {
                let image = from.split_whitespace().next().unwrap();
                assert!(
                    image == "scratch" || image.starts_with("${") || stages.contains(&image),
                    "{file}: FROM {image}: take base images as build arguments"
                );
                if let Some((_, name)) = from.split_once(" AS ") {
                    stages.push(name.trim());
                }
            }
        }
        // Every USHER_* name in the file is a real variable (build arguments aside).
        let args: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("ARG "))
            .map(|a| a.split('=').next().unwrap().trim())
            .collect();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("USHER_") && word != "USHER_" && !args.contains(&word) {
                assert!(
                    help.contains(&format!("env {word},")),
                    "{file}: usher has no variable {word}"
                );
            }
        }
        assert!(
            text.contains("ENTRYPOINT [\"/usr/local/bin/usher\", \"--\"]")
                || text.contains("ENTRYPOINT [\"/usher\", \"--\"]"),
            "{file}: usher is the entrypoint, exec form"
        );
        let health = text.lines().find(|l| {
            l.contains("CMD [\"/usr/local/bin/usher\", \"health\"")
                || l.contains("CMD [\"/usher\", \"health\"")
        });
        assert!(
            health.is_some(),
            "{file}: HEALTHCHECK with usher health, exec form"
        );
    }
}
