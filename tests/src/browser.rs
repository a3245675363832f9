//! A real browser for the console's tests: Debian's headless Chromium driven through its
//! chromedriver, which runs on a free loopback port under the test's [`Supervised`] and stops
//! with it. Both come from `scripts/install-test-deps.sh`; when they are missing the test fails
//! and says so (it never skips).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::supervised::{Supervised, free_port, install_test_deps};

/// How long chromedriver may take to answer its status route.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a click or a form may take to lead to the next page.
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(15);
/// A laptop's screen.
pub const WINDOW: (u32, u32) = (1280, 900);

/// A browser session; [`Browser::close`] ends it, dropping it stops chromedriver.
pub struct Browser {
    pub client: Client,
    _driver: Supervised,
}

impl Browser {
    pub async fn start() -> Browser {
        if let Err(error) = install_test_deps() {
            panic!("{error}");
        }
        let chromium = find("CHROMIUM", "chromium");
        let chromedriver = find("CHROMEDRIVER", "chromedriver");
        let port = free_port();
        let mut command = Command::new(&chromedriver);
        command.arg(format!("--port={port}"));
        let mut driver = Supervised::spawn("chromedriver", &command);
        let url = format!("http://127.0.0.1:{port}");
        wait_until_ready(&url, &mut driver).await;
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Tests run as root in CI, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--hide-scrollbars",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "chromedriver did not start Chromium: {error}\n{}",
                    driver.output()
                )
            });
        Browser {
            client,
            _driver: driver,
        }
    }

    /// Quits Chromium; chromedriver stops when the browser is dropped.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// The current URL's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The text of the first element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .text()
            .await
            .expect("its text")
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("the page source")
    }

    /// Types `value` into the field `id` and submits its form with Enter; returns once the
    /// page the form leads to has loaded.
    pub async fn submit_field(&self, id: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
        field.clear().await.expect("the field clears");
        self.navigating(async {
            field
                .send_keys(&format!("{value}\u{E007}"))
                .await
                .expect("typed and submitted");
        })
        .await;
    }

    /// Clicks what `locator` finds (a link, a button) and returns once the page it leads to
    /// has loaded.
    pub async fn click(&self, locator: Locator<'_>) {
        let target = self
            .client
            .find(locator)
            .await
            .unwrap_or_else(|e| panic!("nothing to click at {locator:?}: {e}"));
        self.navigating(async {
            target.click().await.expect("clicked");
        })
        .await;
    }

    /// Runs `action` and waits until the page it started on is gone (its root element is
    /// stale: a form posted to the same URL changes no URL) and the next one shows its heading.
    async fn navigating(&self, action: impl std::future::Future<Output = ()>) {
        let old = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("a page is open");
        action.await;
        let deadline = Instant::now() + NAVIGATION_TIMEOUT;
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "the page did not change");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.client
            .wait()
            .at_most(NAVIGATION_TIMEOUT)
            .for_element(Locator::Css("main h1"))
            .await
            .expect("the next page");
    }

    /// Writes a PNG of the whole page: the window is made as tall as the page for it (WebDriver
    /// shoots only what the window shows), then set back.
    pub async fn screenshot(&self, path: &Path) {
        let measure = |script: &'static str| async move {
            self.client
                .execute(script, Vec::new())
                .await
                .expect("the page is measured")
                .as_u64()
                .expect("a number of pixels") as u32
        };
        let page = measure("return document.documentElement.scrollHeight").await;
        let frame = WINDOW
            .1
            .saturating_sub(measure("return window.innerHeight").await);
        self.client
            .set_window_size(WINDOW.0, (page + frame).max(WINDOW.1))
            .await
            .expect("the window grows");
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self.client
            .set_window_size(WINDOW.0, WINDOW.1)
            .await
            .expect("the window is set back");
    }
}

/// `$VARIABLE`, or the program on the `PATH`; a clear failure without it.
fn find(variable: &str, program: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "${variable} names {}, which is not a file",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{program} was not found on the PATH (nor in ${variable}): the console's browser \
                 tests need Debian's chromium and chromium-driver packages, which \
                 scripts/install-test-deps.sh installs with apt-get when it runs as root \
                 (apt-get install chromium chromium-driver)"
            )
        })
}

async fn wait_until_ready(url: &str, driver: &mut Supervised) {
    let client = crate::stack::client();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(response) = client.get(format!("{url}/status")).send().await
            && let Ok(status) = response.json::<serde_json::Value>().await
            && status["value"]["ready"] == true
        {
            return;
        }
        if let Some(status) = driver.exited() {
            panic!("chromedriver exited ({status}):\n{}", driver.output());
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver was not ready within {READY_TIMEOUT:?}:\n{}",
            driver.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
