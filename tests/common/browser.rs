//! A real browser for the console's tests: Debian's `chromium`, headless, driven over WebDriver
//! (`chromedriver`, with `fantoccini`). Each [`Browser`] has its own chromedriver on a free port
//! and a fresh profile, and runs with the flags that keep Chromium from calling any host of its
//! own (no background networking, no component updates, no sync, no QUIC). What it logged and
//! every URL it requested can be read back ([`Browser::errors`], [`Browser::requested_urls`]).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::net::free_port;
use super::wait::{wait_for, within, DEADLINE};

/// Chromium's flags: headless as root, and nothing that reaches Google's hosts.
const FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--window-size=1280,900",
];

/// A headless Chromium and its chromedriver; both stop on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// chromedriver's `GET /session/{id}/se/log`: the browser's console log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

impl Browser {
    /// Starts chromedriver and a Chromium session in a fresh profile.
    pub async fn start() -> Browser {
        let port = free_port();
        let mut driver = Command::new("chromedriver");
        driver
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = driver
            .spawn()
            .expect("chromedriver runs (scripts/setup-test-env.sh installs chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        wait_for("chromedriver to answer", || {
            let status = http.get(format!("{url}/status")).send();
            async move { status.await.ok().filter(|r| r.status().is_success()) }
        })
        .await;
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args, "binary": chromium()},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = within(
            "a Chromium session",
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&url),
        )
        .await
        .expect("chromedriver starts Chromium");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Opens `url` and waits for the page's scripts to have run.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("page opens");
        self.wait_ready().await;
    }

    /// Waits until the document has loaded (its deferred scripts ran).
    pub async fn wait_ready(&self) {
        wait_for("the page to load", || async {
            let state = self
                .client
                .execute("return document.readyState", vec![])
                .await
                .ok()?;
            (state == "complete").then_some(())
        })
        .await;
    }

    /// The first element matching `css`, waited for.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        within(
            &format!("an element {css}"),
            self.client
                .wait()
                .at_most(DEADLINE)
                .every(Duration::from_millis(50))
                .for_element(Locator::Css(css)),
        )
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Every element matching `css` now.
    pub async fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// The value of a script's `return`.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The page's HTML as it is now (after its scripts ran).
    pub async fn html(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Every URL the current page requested (itself, its assets, its fetches).
    pub async fn requested_urls(&self) -> Vec<String> {
        let urls = self
            .eval(
                "return [location.href].concat(performance.getEntries()
                   .filter(e => e.entryType === 'navigation' || e.entryType === 'resource')
                   .map(e => e.name))",
            )
            .await;
        urls.as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect()
    }

    /// The browser log's entries at level SEVERE (errors, refused requests, CSP violations).
    pub async fn errors(&self) -> Vec<String> {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Asserts that the browser logged no error and requested nothing but 127.0.0.1.
    pub async fn assert_clean(&self) {
        let errors = self.errors().await;
        assert!(errors.is_empty(), "the browser logged errors: {errors:#?}");
        for url in self.requested_urls().await {
            assert!(
                url.starts_with("http://127.0.0.1:"),
                "a request left 127.0.0.1: {url}"
            );
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.unwrap()
    }

    /// Ends the session (Chromium exits), then chromedriver.
    pub async fn quit(mut self) {
        let _ = self.client.clone().close().await;
        self.stop_driver();
    }

    /// Stops chromedriver, then any Chromium process of this browser's profile still running
    /// (after a failed test the session may not have been closed). Each by its process id.
    fn stop_driver(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let profile = self._profile.path().display().to_string();
        for pid in processes_with_arg(&format!("--user-data-dir={profile}")) {
            let _ = Command::new("kill")
                .args(["-s", "TERM", "--", &pid.to_string()])
                .status();
        }
    }
}

/// The ids of the processes whose command line holds `arg`.
fn processes_with_arg(arg: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .any(|a| a == arg.as_bytes())
                .then_some(pid)
        })
        .filter(|pid| *pid > 1)
        .collect()
}

impl Drop for Browser {
    fn drop(&mut self) {
        if matches!(self.driver.try_wait(), Ok(None)) {
            self.stop_driver();
        }
    }
}

/// The Chromium binary (Debian's `chromium`).
fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("chromium")
}
