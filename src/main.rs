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
mod wait;

use std::ffi::{OsString, c_char, c_int};
use std::time::Instant;

use tracing::{error, info, warn};

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
        return result.unwrap_or_else(|e| report(&e));
    }
    // `usher health` exits 0 or 1 only, even when it cannot start (Docker reserves 2).
    let probing = config::is_health(&args);
    let failed = |code: i32| {
        if probing {
            Kind::Unhealthy.code()
        } else {
            code
        }
    };
    // Block signals before anything else, so none that arrives during start-up is lost.
    let startup = match Startup::begin() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("usher: error: {e}");
            return failed(e.code());
        }
    };
    let config = match Config::from_args(args, Environment::from_process()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("usher: error: {e}");
            return failed(e.code());
        }
    };
    log::init(config.log);
    match boot(config, &startup) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

/// Logs a failure and returns its exit code.
fn report(e: &Error) -> i32 {
    match e.kind {
        Kind::Interrupted(_) => warn!(step = "stop", "{e}; the app was not started"),
        _ => error!("{e}"),
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
            if let Err(e) = secrets::resolve(&mut config.env, &config.file_env) {
                println!("unhealthy: {e}");
                return Ok(Kind::Unhealthy.code());
            }
            return Ok(health::run(settings, &config, startup));
        }
        _ => {}
    }

    // 1. Refuse a setuid install (gosu's rule), and a usher subcommand given as the app's
    //    command (`ENTRYPOINT ["usher", "--"]`, then `docker run IMAGE migrate`).
    privileges::refuse_setuid_install()?;
    if let Command::Run { program, args } = &command {
        handover::refuse_usher_word(program, args, &config.env)?;
    }
    // 2. Turn NAME_FILE secrets into variables, as root.
    resolve_secrets(&mut config)?;
    startup.check("start-up")?;
    // 3. Resolve --user; give --chown trees to that user.
    let target = privileges::target(&config.privileges)?;
    if let (Some(target), Command::Run { .. }) = (&target, &command) {
        privileges::chown_trees(&config.privileges.chown, target)?;
    }
    startup.check("chown")?;
    // 4. Drop privileges for good.
    if let Some(target) = &target {
        privileges::drop_to(target, &mut config.env)?;
    }
    // 5. Wait for dependencies and the database, within one --wait-timeout.
    let deadline = Instant::now() + config.wait.timeout;
    if matches!(command, Command::Run { .. } | Command::Migrate { .. }) {
        wait::dependencies(&config.wait, deadline, startup)?;
    }
    // 6. Migrate (or run the migration subcommand and stop here).
    match &command {
        Command::Run { .. } => migrate_stage(&config, deadline, startup)?,
        _ => return database_command(&command, &config, deadline, startup),
    }
    startup.check("start-up")?;
    // 7. Run the pre-start tasks (--hooks), as the app's user, with its environment.
    if let Some(dir) = &config.hooks {
        hooks::run(dir, &config, startup)?;
    }
    // 8. Hand over: exec the app, or run it under usher as init.
    let Command::Run { program, args } = &command else {
        unreachable!("subcommands returned above");
    };
    if config.privileges.no_new_privs {
        privileges::set_no_new_privs()?;
    }
    let app = handover::prepare(program, args, &config.env)?;
    if init::wanted(&config.init) {
        return init::supervise(app, &config.init, config.log, startup);
    }
    startup.drop_pending("exec");
    startup.check("start-up")?;
    Err(handover::exec(&app, startup))
}

fn resolve_secrets(config: &mut Config) -> Result<()> {
    for done in secrets::resolve(&mut config.env, &config.file_env)? {
        info!(step = "secrets", file = %done.file, "{} set from its _FILE", done.name);
    }
    Ok(())
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
