//! The daemon under measurement: the release binary started as a child process on its own
//! data directory, and its memory read from `/proc`.

use super::*;

pub(super) struct Daemon {
    child: Child,
    pub(super) base: String,
}

impl Daemon {
    pub(super) async fn start(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> = database_url
            .map(|url| vec![("TRIAGED__DATABASE__URL".to_string(), url.to_string())])
            .unwrap_or_default();
        Self::start_with(data_dir, None, &env).await
    }

    /// Starts `triaged serve` with extra environment and an optional settings file.
    pub(super) async fn start_with(
        data_dir: &Path,
        config: Option<&Path>,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .env("TRIAGED_WEBHOOK_TOKEN", TOKEN)
            .env("PAGERDUTY_WEBHOOK_SECRET", "bench-secret")
            .env("TRIAGED__TELEMETRY__LOG_FILTER", "warn")
            .env("TRIAGED__AWS__ENABLED", "false")
            .env("TRIAGED__KUBERNETES__ENABLED", "false")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = command.spawn().context("starting the daemon")?;
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Self { child, base });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the daemon did not become ready within 30 s")
    }

    pub(super) fn rss_mib(&self, field: &str) -> f64 {
        self.child
            .id()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .and_then(|status| status_kib(&status, field))
            .map_or(0.0, |kib| kib as f64 / 1024.0)
    }
}

pub(super) fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub(super) fn meminfo_total_mib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    status_kib(&info, "MemTotal:").map(|kib| kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_proc_status_lines() {
        let status = "Name:\ttriaged\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }
}
