//! The OTLP pipeline: `tracing` → `tracing-opentelemetry` → batch processor → OTLP exporter.
//!
//! [`Config`] reads the standard OpenTelemetry environment variables and lets code override
//! them; [`Config::init`] installs a global subscriber, [`Config::build_layer`] hands back the
//! layer for applications that already have one. Either way a [`VoicetraceGuard`] owns the
//! pipeline and flushes it on drop.
//!
//! TLS: an `https://` endpoint is verified against the system's roots, or only against the CA
//! certificates of `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` / `OTEL_EXPORTER_OTLP_CERTIFICATE`
//! ([`Config::certificate`]) when one is given, for gRPC and HTTP alike. opentelemetry-otlp
//! 0.33 reads neither variable itself, and its gRPC exporter trusts no root unless told to.
//!
//! Two things make the pipeline safe to use from any context:
//! - the gRPC exporter's channel runs on a small runtime owned by the guard, so exporting never
//!   depends on the application's runtime (current-thread, multi-thread, or none at all);
//! - shutdown runs on a plain thread, so dropping the guard inside async code neither blocks the
//!   runtime the exporter needs nor trips tokio's "blocking inside a runtime" checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Tracer};
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use super::content;
use super::ids::CallIdGenerator;
use super::processor::CallIdProcessor;

/// Default service name when neither the builder nor `OTEL_SERVICE_NAME` names one.
const DEFAULT_SERVICE_NAME: &str = "voice-agent";
/// How long the guard waits for the last spans to leave on shutdown. Long enough for one
/// export with the exporter's own retries to a slow collector, short enough not to hang an exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Instrumentation scope name on every span.
const SCOPE_NAME: &str = "voicetrace";
/// What [`Config::init`] exports by default: `info` and above from the agent, nothing from the
/// crates the exporter itself runs on (their log lines would land as events on the agent's
/// spans, or feed back into the exporter).
const DEFAULT_EXPORT_FILTER: &str =
    "info,h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off";

/// The CA certificates (PEM) that verify the receiver's TLS certificate, for traces and for
/// every signal (the OpenTelemetry specification's names; the first one set wins).
const CERTIFICATE_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
];
/// The endpoint variables, as opentelemetry-otlp reads them after the endpoint given in code.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];
/// The export timeout variables (milliseconds), which a client built here must honour as
/// opentelemetry-otlp's own does; without them, its default.
const TIMEOUT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];

/// The OTLP wire protocol (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (default port 4317); voicetrace's default.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (default port 4318).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies (default port 4318).
    HttpJson,
}

impl Protocol {
    /// Parses the values the OpenTelemetry spec names: `grpc`, `http/protobuf`, `http/json`.
    pub fn parse(value: &str) -> Result<Self, InitError> {
        match value.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            other => Err(InitError::Config(format!(
                "unknown OTLP protocol {other:?}: expected grpc, http/protobuf or http/json"
            ))),
        }
    }
}

/// Why the pipeline could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A setting (from the environment or the builder) is invalid.
    #[error("invalid voicetrace configuration: {0}")]
    Config(String),
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    /// The CA certificate file cannot be read.
    #[error("cannot read the CA certificate file {}: {source}", path.display())]
    CertificateFile {
        /// The file (`OTEL_EXPORTER_OTLP_CERTIFICATE` or [`Config::certificate`]).
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The CA certificate file holds no usable PEM certificate.
    #[error("the CA certificate file {} holds no PEM certificate", path.display())]
    CertificateInvalid {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said, if it failed.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// A global subscriber is already installed; use [`Config::build_layer`] instead.
    #[error("a global tracing subscriber is already set: add voicetrace's layer to it with Config::build_layer ({0})")]
    SubscriberAlreadySet(String),
}

/// How the agent exports its spans. Start from [`Config::from_env`], override what you need.
#[derive(Debug, Clone)]
pub struct Config {
    disabled: bool,
    protocol: Protocol,
    /// An unknown protocol read from the environment, reported by `build_layer` unless code
    /// chose a protocol.
    protocol_error: Option<String>,
    endpoint: Option<String>,
    certificate: Option<PathBuf>,
    headers: Vec<(String, String)>,
    service_name: Option<String>,
    resource_attributes: Vec<(String, String)>,
    batch_delay: Option<Duration>,
    log_filter: Option<String>,
    export_filter: Option<String>,
    fmt_output: bool,
    capture_message_content: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_env()
    }
}

impl Config {
    /// Reads the standard variables, and
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (see
    /// [`Config::capture_message_content`]). The exporter itself also reads
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
    /// `OTEL_EXPORTER_OTLP_HEADERS` and `_TIMEOUT`; the resource reads `OTEL_SERVICE_NAME` and
    /// `OTEL_RESOURCE_ATTRIBUTES`. Here: `OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_PROTOCOL`
    /// (or `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`) and `OTEL_EXPORTER_OTLP_CERTIFICATE` (or
    /// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`). An unknown protocol falls back to gRPC and is
    /// reported by [`Config::init`].
    pub fn from_env() -> Self {
        Self::from_lookup(env_var)
    }

    /// [`Config::from_env`] over any source of variables (unset and blank are alike).
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let env = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let disabled =
            env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let (protocol, protocol_error) = match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .map(|p| Protocol::parse(&p))
        {
            None => (Protocol::Grpc, None),
            Some(Ok(p)) => (p, None),
            Some(Err(e)) => (Protocol::Grpc, Some(e.to_string())),
        };
        Config {
            disabled,
            protocol,
            protocol_error,
            endpoint: None,
            certificate: CERTIFICATE_VARS
                .iter()
                .find_map(|k| env(k))
                .map(|v| PathBuf::from(v.trim())),
            headers: Vec::new(),
            service_name: None,
            resource_attributes: Vec::new(),
            batch_delay: None,
            log_filter: None,
            export_filter: None,
            fmt_output: true,
            capture_message_content: content::capture_from_env(),
        }
    }

    /// Turns export off (as `OTEL_SDK_DISABLED=true`): spans are still created, nothing leaves.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// The wire protocol.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self.protocol_error = None;
        self
    }

    /// The collector or receiver's base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` would give it
    /// (`http://127.0.0.1:4317` for gRPC, `http://127.0.0.1:4318` for HTTP: `/v1/traces` is
    /// appended for HTTP).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The CA certificates (a PEM file) that an `https://` endpoint's certificate must chain to,
    /// instead of the system's roots (overrides `OTEL_EXPORTER_OTLP_CERTIFICATE`). Plaintext
    /// endpoints ignore it.
    pub fn certificate(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.certificate = Some(pem_file.into());
        self
    }

    /// An extra header (gRPC metadata) on every export, e.g. `authorization`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `service.name` of the agent (overrides `OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The deployment's id (`deployment.id`): the console lists each deployment with its calls.
    pub fn deployment_id(self, id: impl Into<String>) -> Self {
        self.resource_attribute(crate::semconv::DEPLOYMENT_ID, id)
    }

    /// The agent's version (`service.version`): a release, a git sha.
    pub fn service_version(self, version: impl Into<String>) -> Self {
        self.resource_attribute(crate::semconv::SERVICE_VERSION, version)
    }

    /// The deployment's environment (`deployment.environment.name`: `production`, `staging`).
    pub fn deployment_environment(self, environment: impl Into<String>) -> Self {
        self.resource_attribute(crate::semconv::DEPLOYMENT_ENVIRONMENT_NAME, environment)
    }

    /// An extra resource attribute (beside `OTEL_RESOURCE_ATTRIBUTES`, which the same keys set
    /// too: `OTEL_RESOURCE_ATTRIBUTES=deployment.id=d-42,service.version=1.4.2`).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// How often the batch processor exports (default `OTEL_BSP_SCHEDULE_DELAY` or 5 s).
    pub fn batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = Some(delay);
        self
    }

    /// For [`Config::init`]: the `tracing` filter of the stderr output (default `RUST_LOG`,
    /// else `info`). It does not affect what is exported.
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
    }

    /// For [`Config::init`]: the `tracing` filter of what is exported (default `info`, with the
    /// exporter's own dependencies silenced).
    pub fn export_filter(mut self, filter: impl Into<String>) -> Self {
        self.export_filter = Some(filter.into());
        self
    }

    /// Whether calls copy their text into the GenAI and OpenInference content attributes
    /// (`gen_ai.input.messages`, `gen_ai.output.messages`, `input.value`, `output.value`, ...)
    /// that LLM trace backends display. Default: off, unless
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, as the GenAI conventions ask.
    /// voicetrace's own text attributes, which the call logs are made of, are emitted either
    /// way ([`content`] says which). Building the pipeline makes this the
    /// process's default; [`CallBuilder::capture_message_content`](super::CallBuilder::capture_message_content)
    /// overrides it per call.
    pub fn capture_message_content(mut self, on: bool) -> Self {
        self.capture_message_content = on;
        self
    }

    /// For [`Config::init`]: also print log lines to stderr (default true).
    pub fn fmt_output(mut self, on: bool) -> Self {
        self.fmt_output = on;
        self
    }

    /// Builds the pipeline and installs a global subscriber: a stderr fmt layer (filtered by
    /// `RUST_LOG`) and the OpenTelemetry layer (filtered by [`Config::export_filter`]). Each
    /// layer has its own filter, so quieting stderr never drops exported spans.
    pub fn init(self) -> Result<VoicetraceGuard, InitError> {
        let log_filter = match &self.log_filter {
            Some(f) => tracing_subscriber::EnvFilter::try_new(f)
                .map_err(|e| InitError::Config(format!("log filter {f:?}: {e}")))?,
            None => tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        };
        let export = self
            .export_filter
            .as_deref()
            .unwrap_or(DEFAULT_EXPORT_FILTER);
        let export_filter = tracing_subscriber::EnvFilter::try_new(export)
            .map_err(|e| InitError::Config(format!("export filter {export:?}: {e}")))?;
        let fmt = self.fmt_output.then(|| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(log_filter)
        });
        let (layer, guard) = self.build_layer()?;
        tracing_subscriber::registry()
            .with(fmt)
            .with(layer.with_filter(export_filter))
            .try_init()
            .map_err(|e| InitError::SubscriberAlreadySet(e.to_string()))?;
        Ok(guard)
    }

    /// Builds the pipeline and returns its layer, for an application that composes its own
    /// subscriber. `None` as the layer when export is disabled (a `None` layer is a no-op).
    #[allow(clippy::type_complexity)]
    pub fn build_layer<S>(
        self,
    ) -> Result<
        (
            Option<tracing_opentelemetry::OpenTelemetryLayer<S, Tracer>>,
            VoicetraceGuard,
        ),
        InitError,
    >
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        content::set_capture_default(self.capture_message_content);
        if self.disabled {
            return Ok((None, VoicetraceGuard { inner: None }));
        }
        if let Some(e) = &self.protocol_error {
            return Err(InitError::Config(e.clone()));
        }
        let (provider, runtime) = self.build_provider()?;
        let tracer = provider.tracer(SCOPE_NAME);
        Ok((
            Some(otel_layer(tracer)),
            VoicetraceGuard {
                inner: Some(Inner { provider, runtime }),
            },
        ))
    }

    /// Builds the tracer provider on a plain thread (the HTTP client builds its own runtime,
    /// which tokio forbids inside an async context) with the exporter's runtime entered.
    fn build_provider(&self) -> Result<(SdkTracerProvider, tokio::runtime::Runtime), InitError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("voicetrace-export")
            .enable_all()
            .build()
            .map_err(|e| InitError::Exporter(format!("export runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let config = self.clone();
        let provider = std::thread::scope(|s| {
            s.spawn(move || {
                let _entered = handle.enter();
                config.provider()
            })
            .join()
            .map_err(|_| InitError::Exporter("exporter construction panicked".into()))?
        })?;
        Ok((provider, runtime))
    }

    fn provider(&self) -> Result<SdkTracerProvider, InitError> {
        let exporter = self.exporter()?;
        let mut batch = BatchConfigBuilder::default();
        if let Some(delay) = self.batch_delay {
            batch = batch.with_scheduled_delay(delay);
        }
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch.build())
            .build();
        let mut resource = Resource::builder();
        let service_name = self.service_name.clone().or_else(|| {
            std::env::var("OTEL_SERVICE_NAME")
                .ok()
                .filter(|s| !s.is_empty())
        });
        resource =
            resource.with_service_name(service_name.unwrap_or_else(|| DEFAULT_SERVICE_NAME.into()));
        resource = resource.with_attributes(
            self.resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        );
        Ok(SdkTracerProvider::builder()
            // A call's root gets the trace id derived from its call id (see `ids`).
            .with_id_generator(CallIdGenerator::default())
            // First, so the batch processor exports spans that already carry the call id.
            .with_span_processor(CallIdProcessor)
            .with_span_processor(processor)
            .with_resource(resource.build())
            .build())
    }

    fn exporter(&self) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
        let err = |e: opentelemetry_otlp::ExporterBuildError| InitError::Exporter(e.to_string());
        match self.protocol {
            Protocol::Grpc => {
                let mut b = opentelemetry_otlp::SpanExporter::builder().with_tonic();
                if let Some(endpoint) = &self.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                if !self.headers.is_empty() {
                    let mut map = tonic::metadata::MetadataMap::new();
                    for (k, v) in &self.headers {
                        let key = tonic::metadata::MetadataKey::from_bytes(
                            k.to_ascii_lowercase().as_bytes(),
                        )
                        .map_err(|_| InitError::Config(format!("invalid header name {k:?}")))?;
                        let value = v.parse().map_err(|_| {
                            InitError::Config(format!("invalid value for header {k:?}"))
                        })?;
                        map.insert(key, value);
                    }
                    b = b.with_metadata(map);
                }
                if let Some(tls) = self.grpc_tls()? {
                    b = b.with_tls_config(tls);
                }
                b.build().map_err(err)
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let protocol = if self.protocol == Protocol::HttpJson {
                    opentelemetry_otlp::Protocol::HttpJson
                } else {
                    opentelemetry_otlp::Protocol::HttpBinary
                };
                let mut b = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(protocol);
                if let Some(endpoint) = &self.endpoint {
                    b = b.with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')));
                }
                if !self.headers.is_empty() {
                    b = b.with_headers(self.headers.iter().cloned().collect::<HashMap<_, _>>());
                }
                if let Some(path) = &self.certificate {
                    b = b.with_http_client(http_client_trusting(path)?);
                }
                b.build().map_err(err)
            }
        }
    }

    /// How the gRPC channel verifies the receiver, given where the variables come from.
    fn grpc_trust(&self, lookup: impl Fn(&str) -> Option<String>) -> GrpcTrust {
        if let Some(path) = &self.certificate {
            return GrpcTrust::CaFile(path.clone());
        }
        // The exporter's own order: the endpoint given in code, then the variables.
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| ENDPOINT_VARS.iter().find_map(|k| lookup(k)));
        match endpoint {
            Some(e) if e.trim().to_ascii_lowercase().starts_with("https://") => {
                GrpcTrust::SystemRoots
            }
            _ => GrpcTrust::Plaintext,
        }
    }

    /// The gRPC channel's TLS configuration; `None` for plaintext.
    fn grpc_tls(&self) -> Result<Option<tonic::transport::ClientTlsConfig>, InitError> {
        let tls = tonic::transport::ClientTlsConfig::new();
        Ok(match self.grpc_trust(env_var) {
            GrpcTrust::CaFile(path) => Some(tls.ca_certificate(
                tonic::transport::Certificate::from_pem(read_certificates(&path)?),
            )),
            GrpcTrust::SystemRoots => Some(tls.with_native_roots()),
            GrpcTrust::Plaintext => None,
        })
    }
}

/// What the gRPC exporter trusts. opentelemetry-otlp's own TLS for an `https://` endpoint has no
/// roots at all, so this is always set for TLS.
#[derive(Debug, PartialEq, Eq)]
enum GrpcTrust {
    /// Only the CA certificates of this PEM file (a CA file given is used for any scheme: tonic
    /// applies TLS to `https://` endpoints only).
    CaFile(PathBuf),
    /// The system's roots (an `https://` endpoint; loading them reads the system store, so not
    /// for plaintext).
    SystemRoots,
    /// A plaintext endpoint.
    Plaintext,
}

/// A variable's value; unset and blank are alike.
fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The PEM file's bytes, once the PEM parser has found at least one certificate in it.
fn read_certificates(path: &Path) -> Result<Vec<u8>, InitError> {
    let pem = std::fs::read(path).map_err(|source| InitError::CertificateFile {
        path: path.to_path_buf(),
        source,
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        Ok(_) => Err(InitError::CertificateInvalid {
            path: path.to_path_buf(),
            source: None,
        }),
        Err(e) => Err(InitError::CertificateInvalid {
            path: path.to_path_buf(),
            source: Some(e),
        }),
    }
}

/// The export timeout opentelemetry-otlp would give its own client.
fn export_timeout(lookup: impl Fn(&str) -> Option<String>) -> Duration {
    TIMEOUT_VARS
        .iter()
        .find_map(|k| lookup(k).and_then(|v| v.trim().parse::<u64>().ok()))
        .map_or(
            opentelemetry_otlp::OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT,
            Duration::from_millis,
        )
}

/// The HTTP exporter's blocking client, trusting only the CA file's certificates. Built on a
/// plain thread: the blocking client starts a runtime of its own, which tokio forbids where a
/// runtime is entered (as it is while the provider is built).
fn http_client_trusting(path: &Path) -> Result<reqwest::blocking::Client, InitError> {
    let pem = read_certificates(path)?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| InitError::CertificateInvalid {
            path: path.to_path_buf(),
            source: Some(e),
        })?;
    let timeout = export_timeout(env_var);
    std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(timeout)
            .tls_certs_only(certs)
            .build()
    })
    .join()
    .map_err(|_| InitError::Exporter("building the HTTP client panicked".into()))?
    .map_err(|e| InitError::Exporter(format!("cannot build the HTTP client: {e}")))
}

/// Sets up the pipeline from the environment and installs a global subscriber.
///
/// ```no_run
/// let _guard = voicetrace::init()?; // keep it alive until the agent exits
/// # Ok::<(), voicetrace::instrument::InitError>(())
/// ```
pub fn init() -> Result<VoicetraceGuard, InitError> {
    Config::from_env().init()
}

/// The `tracing-opentelemetry` layer as voicetrace configures it (no code location, thread,
/// target or busy/idle attributes: they cost time on every span and no voice-agent view reads
/// them), for a
/// tracer from a provider you built yourself (add [`CallIdProcessor`] to that provider first).
pub fn otel_layer<S>(tracer: Tracer) -> tracing_opentelemetry::OpenTelemetryLayer<S, Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
}

struct Inner {
    provider: SdkTracerProvider,
    runtime: tokio::runtime::Runtime,
}

/// Owns the export pipeline. Dropping it (or calling [`VoicetraceGuard::shutdown`]) exports
/// every span that has ended and stops the exporter.
#[must_use = "dropping the guard shuts the pipeline down: keep it alive while the agent runs"]
pub struct VoicetraceGuard {
    inner: Option<Inner>,
}

impl std::fmt::Debug for VoicetraceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoicetraceGuard")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

impl VoicetraceGuard {
    /// Exports every ended span now, without shutting down.
    pub fn flush(&self) -> Result<(), InitError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let provider = inner.provider.clone();
        std::thread::scope(|s| s.spawn(move || provider.force_flush()).join())
            .map_err(|_| InitError::Exporter("flush panicked".into()))?
            .map_err(|e| InitError::Exporter(e.to_string()))
    }

    /// Flushes and stops the pipeline, reporting a failure instead of logging it.
    pub fn shutdown(mut self) -> Result<(), InitError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), InitError> {
        let Some(Inner { provider, runtime }) = self.inner.take() else {
            return Ok(());
        };
        // A plain thread: the batch processor's last export needs the export runtime's worker,
        // and dropping a runtime inside an async context panics.
        std::thread::spawn(move || {
            let result = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
            runtime.shutdown_timeout(Duration::from_secs(1));
            result
        })
        .join()
        .map_err(|_| InitError::Exporter("shutdown panicked".into()))?
        .map_err(|e| InitError::Exporter(e.to_string()))
    }
}

impl Drop for VoicetraceGuard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            // The subscriber may be gone by now; stderr is the one place left to say it.
            eprintln!("voicetrace: spans may be lost: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_traces_certificate_variable_wins_and_blank_is_unset() {
        let both = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca/all.pem"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                " /etc/ca/traces.pem ",
            ),
        ];
        assert_eq!(
            Config::from_lookup(lookup(&both)).certificate,
            Some(PathBuf::from("/etc/ca/traces.pem"))
        );
        let blank = [
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", " "),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca/all.pem"),
        ];
        assert_eq!(
            Config::from_lookup(lookup(&blank)).certificate,
            Some(PathBuf::from("/etc/ca/all.pem"))
        );
        assert_eq!(Config::from_lookup(lookup(&[])).certificate, None);
        let code = Config::from_lookup(lookup(&both)).certificate("/tmp/mine.pem");
        assert_eq!(code.certificate, Some(PathBuf::from("/tmp/mine.pem")));
    }

    #[test]
    fn grpc_trusts_the_ca_file_else_the_system_roots_for_https() {
        let none = lookup(&[]);
        let https = [("OTEL_EXPORTER_OTLP_ENDPOINT", "HTTPS://receiver:4317")];
        let traces_http = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://receiver:4317"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://receiver:4317"),
        ];
        let config = Config::from_lookup(lookup(&[]));
        assert_eq!(config.grpc_trust(&none), GrpcTrust::Plaintext);
        assert_eq!(config.grpc_trust(lookup(&https)), GrpcTrust::SystemRoots);
        // The traces variable comes first, and the endpoint in code before both.
        assert_eq!(
            config.grpc_trust(lookup(&traces_http)),
            GrpcTrust::Plaintext
        );
        let coded = config.clone().endpoint("https://receiver:4317");
        assert_eq!(
            coded.grpc_trust(lookup(&traces_http)),
            GrpcTrust::SystemRoots
        );
        let with_ca = coded.certificate("/etc/ca.pem");
        assert_eq!(
            with_ca.grpc_trust(&none),
            GrpcTrust::CaFile(PathBuf::from("/etc/ca.pem"))
        );
    }

    #[test]
    fn the_export_timeout_follows_the_variables_in_milliseconds() {
        assert_eq!(
            export_timeout(lookup(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")])),
            Duration::from_millis(2500)
        );
        assert_eq!(
            export_timeout(lookup(&[
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ])),
            Duration::from_millis(700)
        );
        assert_eq!(
            export_timeout(lookup(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")])),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn a_certificate_file_must_exist_and_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            read_certificates(&missing),
            Err(InitError::CertificateFile { path, .. }) if path == missing
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(matches!(
            read_certificates(&empty),
            Err(InitError::CertificateInvalid { path, .. }) if path == empty
        ));
    }
}
