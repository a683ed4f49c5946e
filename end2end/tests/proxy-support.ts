// A protected site for the forward-auth browser test: Keywarden (scripts/e2e-server.sh with a
// cookie domain and one application), an upstream application that shows the Remote-* headers it
// receives, and nginx in front of both with the documented configuration (tests/proxy/nginx.conf,
// only hosts and ports replaced). nginx runs as this test's own process: its config, pid, logs and
// temporary files live in a temporary directory, on a free port; the system service is not used.
//
// The browser reaches *.kw.test through Chromium's --host-resolver-rules (see the spec).

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const COOKIE_DOMAIN = ".kw.test";
export const AUTH_HOST = "auth.kw.test";
export const APP_HOST = "app.kw.test";

const ROOT = path.resolve(__dirname, "..", "..");

/** nginx: KEYWARDEN_TEST_NGINX (scripts/test.sh sets it), else PATH or /usr/sbin. */
export function nginxProgram(): string | undefined {
  const candidates = [
    process.env.KEYWARDEN_TEST_NGINX,
    ...(process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "nginx")),
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
  ];
  return candidates.find((p) => !!p && fs.existsSync(p) && fs.statSync(p).isFile());
}

/** A TCP port free on 127.0.0.1 at the moment of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, ready: () => Promise<boolean>, gone: () => boolean) {
  for (let i = 0; i < 600; i++) {
    if (await ready()) return;
    if (gone()) throw new Error(`${what} exited while starting`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start within 60 s`);
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The documented nginx site with the test's hosts and ports, in a main context of its own. */
function nginxConfig(dir: string, port: number, keywarden: string, upstream: string): string {
  const site = fs
    .readFileSync(path.join(ROOT, "tests", "proxy", "nginx.conf"), "utf8")
    .replaceAll("listen 80;", `listen 127.0.0.1:${port};`)
    .replaceAll("auth.example.com", AUTH_HOST)
    .replaceAll("app.example.com", APP_HOST)
    .replaceAll("keywarden:3000", keywarden)
    .replaceAll("wiki:8080", upstream);
  // Started as root, nginx would switch its workers to `nobody`; keep them as this user.
  const user = process.getuid?.() === 0 ? "user root root;\n" : "";
  return `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
access_log ${dir}/access.log;
client_body_temp_path ${dir}/client_body;
proxy_temp_path ${dir}/proxy;
fastcgi_temp_path ${dir}/fastcgi;
uwsgi_temp_path ${dir}/uwsgi;
scgi_temp_path ${dir}/scgi;
${site}
}
`;
}

export interface ProtectedSite {
  /** The application's URL through nginx, e.g. http://app.kw.test:PORT */
  appUrl: string;
  /** Keywarden's public URL through nginx. */
  authUrl: string;
  stop(): Promise<void>;
}

/** Stops a child process: SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
export function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve();
    }, 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    // SIGTERM lets nginx's master stop its workers and e2e-server.sh's server shut down cleanly.
    child.kill("SIGTERM");
  });
}

/** Starts the upstream, Keywarden and nginx; `stop()` ends all three. */
export async function startProtectedSite(nginx: string): Promise<ProtectedSite> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keywarden-e2e-proxy."));
  const [keywardenPort, proxyPort] = [await freePort(), await freePort()];
  const authUrl = `http://${AUTH_HOST}:${proxyPort}`;
  const appUrl = `http://${APP_HOST}:${proxyPort}`;
  let server: ChildProcess | undefined;
  let proxy: ChildProcess | undefined;

  // The protected application: shows who nginx says is signed in.
  const upstream = http.createServer((req, res) => {
    const email = String(req.headers["remote-email"] ?? "");
    const role = String(req.headers["remote-groups"] ?? "");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Wiki</title>
<link rel="icon" href="data:,"></head><body><main><h1>Wiki</h1>
<p>Signed in as <strong>${escapeHtml(email)}</strong> (${escapeHtml(role)})</p></main></body></html>`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const upstreamPort = (upstream.address() as net.AddressInfo).port;

  const stop = async () => {
    await stopProcess(proxy);
    await stopProcess(server);
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    server = spawn("bash", ["scripts/e2e-server.sh"], {
      cwd: ROOT,
      env: {
        ...process.env,
        E2E_PORT: String(keywardenPort),
        E2E_BASE_URL: authUrl,
        E2E_APPLICATIONS: APP_HOST,
        KEYWARDEN_COOKIE_DOMAIN: COOKIE_DOMAIN,
        KEYWARDEN_TRUSTED_PROXIES: "127.0.0.1/32",
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    await waitFor(
      "Keywarden (scripts/e2e-server.sh)",
      async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${keywardenPort}/healthz`);
          return r.ok;
        } catch {
          return false;
        }
      },
      () => server!.exitCode !== null,
    );

    const conf = path.join(dir, "nginx.conf");
    fs.writeFileSync(
      conf,
      nginxConfig(dir, proxyPort, `127.0.0.1:${keywardenPort}`, `127.0.0.1:${upstreamPort}`),
    );
    const check = spawnSync(nginx, ["-t", "-p", dir, "-e", `${dir}/error.log`, "-c", conf]);
    if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`);
    proxy = spawn(nginx, ["-p", dir, "-e", `${dir}/error.log`, "-c", conf, "-g", "daemon off;"], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    await waitFor("nginx", () => listening(proxyPort), () => proxy!.exitCode !== null);
  } catch (error) {
    await stop();
    throw error;
  }
  return { appUrl, authUrl, stop };
}
