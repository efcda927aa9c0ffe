//! usher: a container entrypoint that reads its settings, turns `NAME_FILE` secrets into
//! variables, drops root like gosu, waits for dependencies, migrates the database, and hands
//! over to the app — by `exec`, or, as PID 1, by staying as a minimal init.
//!
//! `main` below is the boot sequence; each stage is a module. Errors become exit codes in one
//! place, `exit.rs`.
//!
//! There is no Rust `main`: the C runtime calls `main` here directly, so the Rust runtime's
//! start-up never sets SIGPIPE to "ignore". The app must inherit usher's own signal
//! dispositions, and an ignored SIGPIPE inherited by the app changes how it fails on a closed
//! pipe; with Rust's own `main`, the original disposition would be lost before usher could
//! record it.
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]
// The unit-test build has no C `main`, so the boot sequence is unused there.
#![cfg_attr(test, allow(dead_code, unused_imports))]

mod config;
#[cfg(feature = "_db")]
mod db;
mod environment;
mod exit;
mod handover;
mod health;
mod hooks;
mod init;
mod log;
mod privileges;
mod readiness;
mod redact;
mod secrets;
mod signals;
mod sys;
mod users;
mod values;
mod wait;

use std::ffi::{OsString, c_char, c_int};
use std::time::Instant;

use tracing::info;

use config::{Command, Config};

#[global_allocator]
static ALLOCATOR: sys::Allocator = sys::Allocator;
use environment::Environment;
use exit::{Error, Kind, Result};
use signals::Startup;

/// The process entry point, called by the C runtime.
#[cfg(not(test))]
#[unsafe(no_mangle)]
#[allow(unsafe_code)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime passes argc valid argument strings.
    let args = unsafe { sys::args_from_c(argc, argv) };
    let code = run(args);
    // `process::exit` flushes stdout; returning from a no_main `main` would not.
    std::process::exit(code)
}

/// Runs usher; returns its exit code.
fn run(args: Vec<OsString>) -> i32 {
    // A re-executed init supervisor (see init/reexec.rs) skips the whole start-up.
    if let Some(result) = init::run_if_supervisor(&args) {
        return result.unwrap_or_else(|e| report(&e.at("init")));
    }
    let env = Environment::from_process();
    // Every password in a URL usher was given is masked in everything it prints, from the
    // first line on (redact.rs).
    register_secrets(args.iter().map(|a| a.as_os_str()), &env);
    // `usher health` exits 0 or 1 only, even when it cannot start (Docker reserves 2).
    let probing = config::is_health(&args);
    // Before the configuration is read, the log format is found on its own, so that even an
    // error in it is printed as asked (one JSON object with --log-format json).
    let early_log = config::early_log(&args, &env);
    let failed = |e: Error| {
        log::init(early_log);
        let code = report(&e);
        if probing {
            Kind::Unhealthy.code()
        } else {
            code
        }
    };
    // Block signals before anything else, so none that arrives during start-up is lost.
    let startup = match Startup::begin() {
        Ok(s) => s,
        Err(e) => return failed(e.at("signals")),
    };
    let config = match Config::from_args(args, env) {
        Ok(c) => c,
        Err(e) => return failed(e.at("config")),
    };
    log::init(config.log);
    match boot(config, &startup) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

/// Registers the URL passwords in the arguments and the environment with the redactor.
fn register_secrets<'a>(args: impl Iterator<Item = &'a std::ffi::OsStr>, env: &'a Environment) {
    for value in args.chain(env.values()) {
        if let Some(text) = value.to_str() {
            redact::register_url(text);
        }
    }
}

/// Logs a failure and returns its exit code.
fn report(e: &Error) -> i32 {
    match e.kind {
        Kind::Interrupted(_) => crate::log::log_step!(WARN, "stop", "{e}; the app was not started"),
        _ => crate::log::log_step!(ERROR, e.step.unwrap_or("usher"), "{e}"),
    }
    e.code()
}

/// The boot sequence, for the app and for each subcommand.
fn boot(mut config: Config, startup: &Startup) -> Result<i32> {
    let command = config.command.clone();
    match &command {
        Command::Help => {
            print!("{}", config::help_text());
            return Ok(0);
        }
        Command::Version => {
            println!("usher {}", env!("CARGO_PKG_VERSION"));
            return Ok(0);
        }
        Command::Health(settings) => {
            // A probe resolves secrets (for `health db`) but never drops or chowns, logs
            // nothing about them (its output is one line), and never exits 2, which Docker
            // reserves.
            match secrets::resolve(&mut config.env, &config.file_env, startup) {
                Ok(done) => {
                    register_resolved(&done, &config.env);
                    config.from_files = done.into_iter().map(|d| (d.name, d.file)).collect();
                }
                Err(e) => {
                    println!("unhealthy: {}", redact::redact(&e.message));
                    return Ok(Kind::Unhealthy.code());
                }
            }
            return Ok(health::run(settings, &config, startup));
        }
        _ => {}
    }

    // 1. Refuse a setuid install (gosu's rule), and a usher subcommand given as the app's
    //    command (`ENTRYPOINT ["usher", "--"]`, then `docker run IMAGE migrate`).
    privileges::refuse_setuid_install().map_err(|e| e.at("privileges"))?;
    if let Command::Run { program, args } = &command {
        handover::refuse_usher_word(program, args, &config.env).map_err(|e| e.at("exec"))?;
    }
    // 2. Turn NAME_FILE secrets into variables, as root.
    resolve_secrets(&mut config, startup).map_err(|e| e.at("secrets"))?;
    startup.check("start-up")?;
    // 3. Resolve --user; give --chown trees to that user.
    let target = privileges::target(&config.privileges).map_err(|e| e.at("privileges"))?;
    if let (Some(target), Command::Run { .. }) = (&target, &command) {
        privileges::chown_trees(&config.privileges.chown, target).map_err(|e| e.at("chown"))?;
    }
    startup.check("chown")?;
    // 4. Drop privileges for good.
    if let Some(target) = &target {
        privileges::drop_to(target, &mut config.env).map_err(|e| e.at("privileges"))?;
    }
    // 5. Wait for dependencies and the database, within one --wait-timeout.
    let deadline = Instant::now() + config.wait.timeout;
    if matches!(command, Command::Run { .. } | Command::Migrate { .. }) {
        wait::dependencies(&config.wait, deadline, startup).map_err(|e| e.at("wait"))?;
    }
    // 6. Migrate (or run the migration subcommand and stop here).
    match &command {
        Command::Run { .. } => {
            migrate_stage(&config, deadline, startup).map_err(|e| e.at("migrate"))?
        }
        _ => {
            let step = match command {
                Command::Status { .. } => "status",
                Command::Resolve { .. } => "resolve",
                Command::Baseline { .. } => "baseline",
                _ => "migrate",
            };
            return database_command(&command, &config, deadline, startup).map_err(|e| e.at(step));
        }
    }
    startup.check("start-up")?;
    // The migration URL (DDL rights) is usher's alone: neither the pre-start tasks, nor the
    // app, nor the supervisor that stays beside it (whose /proc/PID/environ is the app's
    // environment) keeps it.
    config.env.remove("MIGRATION_DATABASE_URL");
    config.env.remove("MIGRATION_DATABASE_URL_FILE");
    // 7. Run the pre-start tasks (--hooks), as the app's user, with its environment.
    if let Some(dir) = &config.hooks {
        hooks::run(dir, &config, startup).map_err(|e| e.at("hooks"))?;
    }
    // 8. Hand over: exec the app, or run it under usher as init.
    let Command::Run { program, args } = &command else {
        unreachable!("subcommands returned above");
    };
    if config.privileges.no_new_privs {
        privileges::set_no_new_privs().map_err(|e| e.at("privileges"))?;
    }
    let app = handover::prepare(program, args, &config.env).map_err(|e| e.at("exec"))?;
    if init::wanted(&config.init) {
        return init::supervise(app, &config.init, config.log, startup).map_err(|e| e.at("init"));
    }
    startup.drop_pending("exec");
    startup.check("start-up")?;
    Err(handover::exec(&app, startup).at("exec"))
}

fn resolve_secrets(config: &mut Config, startup: &Startup) -> Result<()> {
    let done = secrets::resolve(&mut config.env, &config.file_env, startup)?;
    register_resolved(&done, &config.env);
    for done in done {
        info!(step = "secrets", file = %done.file, "{} set from its _FILE", done.name);
        config.from_files.push((done.name, done.file));
    }
    Ok(())
}

/// Registers the URL passwords of values read from `_FILE`s with the redactor.
fn register_resolved(done: &[secrets::Resolved], env: &Environment) {
    for d in done {
        if let Some(value) = env.get(&d.name).and_then(|v| v.to_str()) {
            redact::register_url(value);
        }
    }
}

/// Applies pending migrations when there are any to apply.
#[cfg(feature = "_db")]
fn migrate_stage(config: &Config, deadline: Instant, startup: &Startup) -> Result<()> {
    db::stage(config, deadline, startup)
}

/// Without database drivers, a migration directory that would be used is an error, not a
/// silent skip: the app must not start on an unmigrated database.
#[cfg(not(feature = "_db"))]
fn migrate_stage(config: &Config, _deadline: Instant, _startup: &Startup) -> Result<()> {
    use config::Mode;
    let wanted = match config.migrate.mode {
        Mode::Never => false,
        Mode::Always => true,
        Mode::Auto => config.migrate.dir.is_dir() && config.env.non_empty("DATABASE_URL").is_some(),
    };
    if wanted {
        return Err(no_database_support());
    }
    Ok(())
}

#[cfg(feature = "_db")]
fn database_command(
    command: &Command,
    config: &Config,
    deadline: Instant,
    startup: &Startup,
) -> Result<i32> {
    db::command(command, config, deadline, startup)
}

#[cfg(not(feature = "_db"))]
fn database_command(_: &Command, _: &Config, _: Instant, _: &Startup) -> Result<i32> {
    Err(no_database_support())
}

#[cfg(not(feature = "_db"))]
fn no_database_support() -> Error {
    Error::config(
        "this usher was built without database drivers (--no-default-features); \
         set USHER_MIGRATE=never, or use a build with the postgres, mysql or sqlite feature",
    )
}
