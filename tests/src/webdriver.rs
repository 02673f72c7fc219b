//! Drives a real headless Chromium through chromedriver (the W3C WebDriver protocol: plain HTTP
//! and JSON), for tests of the dashboard page. Needs Debian's `chromium` and `chromium-driver`
//! (`scripts/install-deps`); without them [`Browser::start`] fails and says so.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::http;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C's key for an element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session. Dropping it kills chromedriver and the
/// browser (they run in a process group of their own).
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session with a
    /// 1280×1000 window.
    ///
    /// # Errors
    /// A message saying what is missing or what failed: the binaries, chromedriver not
    /// answering within 20 s, or the session not starting (Chromium's own error).
    pub async fn start() -> Result<Browser, String> {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(bin).exists() {
                return Err(format!(
                    "{bin} is missing: install Debian's chromium and chromium-driver \
                     (scripts/install-deps)"
                ));
            }
        }
        let addr = crate::free_addrs(1).remove(0);
        let port = addr.rsplit(':').next().unwrap_or_default().to_string();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match http::request(&browser.addr, "GET", "/status", &[], b"").await {
                Ok(r) if r.json().is_ok_and(|v| v["value"]["ready"] == true) => break,
                _ if Instant::now() > deadline => {
                    return Err(format!("{CHROMEDRIVER} did not become ready within 20 s"))
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
            },
        }}});
        let value = browser
            .call("POST", "/session", Some(caps))
            .await
            .map_err(|e| format!("Chromium did not start a session: {e}"))?;
        browser.session = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {value}"))?
            .to_string();
        Ok(browser)
    }

    /// One WebDriver command; the answer's `value`, or its error message.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("Content-Type", "application/json")]
        };
        let r = http::request(&self.addr, method, path, headers, body.as_bytes()).await?;
        let v = r.json()?;
        if r.status != 200 {
            return Err(format!(
                "{method} {path}: HTTP {}: {} {}",
                r.status, v["value"]["error"], v["value"]["message"]
            ));
        }
        Ok(v["value"].clone())
    }

    async fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element `css` selects (the first); panics when there is none.
    async fn element(&self, css: &str) -> String {
        let v = self
            .session_call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Clears the input or textarea `css` and types `text` into it, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.element(css).await;
        self.session_call("POST", &format!("/element/{el}/clear"), Some(json!({})))
            .await;
        self.session_call(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        let el = self.element(css).await;
        self.session_call("POST", &format!("/element/{el}/click"), Some(json!({})))
            .await;
    }

    /// The rendered text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        let el = self.element(css).await;
        let v = self
            .session_call("GET", &format!("/element/{el}/text"), None)
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns its value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The visible page as PNG bytes.
    pub async fn screenshot(&self) -> Vec<u8> {
        let v = self.session_call("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    /// Closes the session (and the browser) and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = self
            .call("DELETE", &format!("/session/{}", self.session), None)
            .await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver started the browser in its process group: take them all down.
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-9", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}
