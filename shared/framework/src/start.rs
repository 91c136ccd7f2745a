//! Starting a function: from `main` with a runtime of the framework's own ([`Functions::run`]),
//! or from a runtime the caller owns ([`Functions::serve`]).

use std::{fmt, process::ExitCode};

use crate::{config_error::ConfigError, server, Config, Functions};

/// Why a function did not start serving.
#[derive(Debug)]
pub enum StartError {
    /// The settings pick no registered function, or more than one.
    Selection(ConfigError),
    /// The port could not be listened on.
    Listen {
        /// The port asked for.
        port: u16,
        /// What the system said.
        source: std::io::Error,
    },
    /// The async runtime could not start ([`Functions::run`] only).
    Runtime(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Selection(e) => e.fmt(f),
            Self::Listen { port, source } => write!(f, "cannot listen on port {port}: {source}"),
            Self::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Selection(e) => Some(e),
            Self::Listen { source, .. } | Self::Runtime(source) => Some(source),
        }
    }
}

impl Functions {
    /// Reads the environment, picks the function, serves it until SIGTERM, SIGINT or SIGHUP.
    /// A configuration error ends the process at once with a message saying what to fix.
    pub fn run(self) -> ExitCode {
        crate::logging::init();
        match Config::from_env() {
            Ok(config) => self.run_with(config),
            Err(e) => {
                log::error!("{e}");
                ExitCode::FAILURE
            }
        }
    }

    /// As [`Functions::run`], with settings already read (and logging already started): a
    /// binary that reads other settings too reads them all first and reports every bad one
    /// at once.
    pub fn run_with(self, config: Config) -> ExitCode {
        let served = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)
            .and_then(|runtime| runtime.block_on(self.serve(config)));
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                log::error!("{e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Serves the function `config` picks on the caller's runtime, until SIGTERM, SIGINT or
    /// SIGHUP (then in-flight requests finish first). For a `main` that owns its runtime and does
    /// other work beside the function; start logging first ([`crate::logging::init`]).
    ///
    /// ```no_run
    /// use functions_framework::{body::full, Config, Functions};
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     functions_framework::logging::init();
    ///     let config = Config::from_env()?;
    ///     Functions::new()
    ///         .http("hello", |_request| async { Ok(http::Response::new(full("Hello"))) })
    ///         .serve(config)
    ///         .await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn serve(self, config: Config) -> Result<(), StartError> {
        let (name, function) = self
            .select(config.target.as_deref(), config.signature_type)
            .map_err(StartError::Selection)?;
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.port))
            .await
            .map_err(|source| StartError::Listen {
                port: config.port,
                source,
            })?;
        let deployment = match (&config.service, &config.revision) {
            (Some(service), Some(revision)) => format!(" (service {service}, revision {revision})"),
            (Some(service), None) => format!(" (service {service})"),
            _ => String::new(),
        };
        let shown = listener.local_addr().map_or_else(
            |_| format!("port {}", config.port),
            |a| format!("http://{a}"),
        );
        log::info!(
            "serving {} function {name:?} on {shown}{deployment}",
            function.signature_type()
        );
        server::serve(listener, function, config.server, server::shutdown_signal()).await;
        Ok(())
    }
}
