//! A site as it runs scaled out: several `coterie serve` processes (the real
//! binary) sharing one database, one cache server and one media folder,
//! behind the real nginx running `deploy/nginx.conf`.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

const NGINX: &str = "/usr/sbin/nginx";

/// Is nginx installed? Says why not on stderr.
pub fn nginx_available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    eprintln!("SKIPPED: {NGINX} is not installed (scripts/setup installs the nginx package)");
    false
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Proc {
    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then waits: nginx's master takes its workers down with it.
    fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `url` until it answers 200; panics with `what` after a minute.
pub async fn wait_for(url: &str, what: &str) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status() == StatusCode::OK {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{what} did not come up at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct Cluster {
    /// Shared data folder (media, outbox), the static folder and nginx's files.
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub cache_url: String,
    /// Extra COTERIE_* settings for every process.
    extra: Vec<(String, String)>,
    pub node_ports: Vec<u16>,
    nodes: Vec<Option<Proc>>,
    pub nginx_port: u16,
    _nginx: Proc,
}

impl Cluster {
    /// Starts `nodes` app processes one after the other (the first one
    /// migrates), then nginx in front of them.
    pub async fn start(database_url: &str, cache_url: &str, nodes: usize, extra: &[(&str, &str)]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nginx_port = free_port();
        let mut cluster = Cluster {
            database_url: database_url.to_string(),
            cache_url: cache_url.to_string(),
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            node_ports: (0..nodes).map(|_| free_port()).collect(),
            nodes: Vec::new(),
            nginx_port,
            _nginx: Proc(Command::new("true").stdout(Stdio::null()).spawn().unwrap()),
            dir,
        };
        let out = cluster.coterie(&["collect-static", cluster.static_dir().to_str().unwrap()], None);
        assert!(out.contains("files written"), "{out}");
        for i in 0..nodes {
            cluster.nodes.push(None);
            cluster.start_node(i).await;
        }
        cluster._nginx = cluster.start_nginx().await;
        cluster
    }

    fn static_dir(&self) -> PathBuf {
        self.dir.path().join("static")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn media_dir(&self) -> PathBuf {
        self.data_dir().join("media")
    }

    /// The environment every process of the site gets.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("COTERIE_DATA_DIR".into(), self.data_dir().display().to_string()),
            ("COTERIE_DATABASE_URL".into(), self.database_url.clone()),
            ("COTERIE_CACHE_URL".into(), self.cache_url.clone()),
            ("COTERIE_PUBLIC_URL".into(), self.url("")),
            ("COTERIE_TRUSTED_PROXIES".into(), "127.0.0.1".into()),
            ("COTERIE_AVATARS_GRAVATAR".into(), "false".into()),
            ("COTERIE_DATABASE_POOL_SIZE".into(), "4".into()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        env.extend(self.extra.iter().cloned());
        env
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_coterie"));
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("COTERIE_")) {
            command.env_remove(name);
        }
        command.envs(self.env());
        command
    }

    /// Runs a `coterie` command against this site; returns what it printed.
    pub fn coterie(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write as _;
        let mut child = self.command().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    /// Creates a confirmed member with the CLI; returns nothing, logs in later.
    pub fn member(&self, username: &str, password: &str) {
        let email = format!("{username}@example.com");
        let out = self.coterie(&["user", "create", "--username", username, "--email", &email, "--password-stdin"], Some(password));
        assert!(out.contains("created member"), "{out}");
    }

    pub async fn start_node(&mut self, i: usize) {
        let addr = format!("127.0.0.1:{}", self.node_ports[i]);
        let log = std::fs::File::create(self.dir.path().join(format!("node{i}.log"))).unwrap();
        let child = self
            .command()
            .args(["serve", "--addr", &addr])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes[i] = Some(Proc(child));
        wait_for(&format!("http://{addr}/readyz"), &format!("app process {i}")).await;
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.kill();
        }
    }

    /// What an app process wrote to its log.
    pub fn node_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node{i}.log"))).unwrap_or_default()
    }

    async fn start_nginx(&self) -> Proc {
        let site = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
        let mut site = replace_once(&site, "listen 80;", &format!("listen 127.0.0.1:{};", self.nginx_port));
        site = replace_once(&site, "/srv/coterie/static/", &format!("{}/", self.static_dir().display()));
        site = replace_once(&site, "/srv/coterie/data/media/", &format!("{}/", self.media_dir().display()));
        let upstream: String = self
            .node_ports
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n"))
            .collect();
        let start = site.find("    server 127.0.0.1:8001").expect("the upstream's first server line");
        let end = site[start..].find("    keepalive").expect("the upstream's keepalive line") + start;
        site.replace_range(start..end, &upstream);
        let dir = self.dir.path().join("nginx");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let d = dir.display();
        // Worker processes of a root master drop to `nobody`, which cannot
        // read the test's private temporary folder.
        let user = if is_root() { "user root;" } else { "" };
        let main = format!(
            "{user}\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n  access_log {d}/access.log;\n  \
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let conf = dir.join("nginx.conf");
        let test = Command::new(NGINX).args(["-t", "-p"]).arg(&dir).arg("-c").arg(&conf).output().unwrap();
        assert!(test.status.success(), "nginx -t: {}", String::from_utf8_lossy(&test.stderr));
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(&self.url("/healthz"), "nginx").await;
        Proc(child)
    }

    /// A URL through nginx.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nginx_port)
    }

    /// A URL on app process `i` directly.
    pub fn node_url(&self, i: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.node_ports[i])
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "deploy/nginx.conf should have {from:?} once");
    text.replacen(from, to, 1)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// A member's browser: cookies kept, redirects not followed, connecting
/// from `from` (any 127.x.y.z address reaches the loopback listeners).
pub fn browser(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.text.find(marker).unwrap_or_else(|| panic!("no CSRF token on the page ({}):\n{}", self.status, self.text)) + marker.len();
        let end = self.text[start..].find('"').unwrap();
        self.text[start..start + end].to_string()
    }

    /// The first score shown (`<span class="score" ...>N</span>`).
    pub fn score(&self) -> i64 {
        let at = self.text.find("class=\"score\"").unwrap_or_else(|| panic!("no score on the page:\n{}", self.text));
        let rest = &self.text[at..];
        let open = rest.find('>').unwrap() + 1;
        let close = rest[open..].find('<').unwrap() + open;
        rest[open..close].trim().parse().unwrap()
    }
}

pub async fn get(client: &reqwest::Client, url: &str) -> Answer {
    read(client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"))).await
}

/// Posts a form with the token of the page at `form_url`.
pub async fn post(client: &reqwest::Client, form_url: &str, action_url: &str, fields: &[(&str, &str)]) -> Answer {
    let token = get(client, form_url).await.csrf();
    try_post(client, action_url, &token, fields).await.unwrap_or_else(|e| panic!("POST {action_url}: {e}"))
}

/// Posts with a token already in hand; a connection error is an `Err`.
pub async fn try_post(client: &reqwest::Client, action_url: &str, token: &str, fields: &[(&str, &str)]) -> Result<Answer, reqwest::Error> {
    let mut all: Vec<(&str, &str)> = vec![("csrf_token", token)];
    all.extend_from_slice(fields);
    Ok(read(client.post(action_url).form(&all).send().await?).await)
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    Answer { status, headers, text: response.text().await.unwrap_or_default() }
}

pub async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) {
    let done = post(client, &format!("{base}/accounts/login"), &format!("{base}/accounts/login"), &[("login", username), ("password", password)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "log-in of {username}: {}", done.text);
}
