import { defineConfig } from "@playwright/test";
import { ADMIN_EMAIL, ADMIN_PASSWORD, SERVERS, serverUrl } from "./tests/env";

// Browser tests for Keywarden. Each server is started by ../scripts/e2e-server.sh (fresh SQLite
// database and one admin) and must already be built: `cargo leptos build` (scripts/test.sh does).
// Chromium is the system one; no browser is ever downloaded.
//
// Specs must not depend on each other's order. Most share one server and only touch users and
// settings of their own; the two that change the whole instance run against servers of their own
// (one project per server):
//   - admin-email.spec.ts changes the product name and the password-reset template, which every
//     other spec's mails would show while it runs;
//   - instance-wide.spec.ts sets every password as compromised (the admin's too) and signs
//     everyone out, for good.

const PRIVATE_SPECS = {
  mailSettings: /admin-email\.spec\.ts$/,
  instanceWide: /instance-wide\.spec\.ts$/,
};

function server(port: number) {
  const url = serverUrl(port);
  return {
    command: "bash scripts/e2e-server.sh",
    cwd: "..",
    url: `${url}/healthz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "pipe" as const,
    stderr: "pipe" as const,
    gracefulShutdown: { signal: "SIGTERM" as const, timeout: 5_000 },
    env: {
      E2E_PORT: String(port),
      E2E_ADMIN_EMAIL: ADMIN_EMAIL,
      E2E_ADMIN_PASSWORD: ADMIN_PASSWORD,
    },
  };
}

export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  // Spec files run in parallel (two at a time); the tests of one file run in order, in one worker.
  fullyParallel: false,
  workers: 2, // 2-core machine: the servers and two browsers already fill it
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],

  use: {
    browserName: "chromium",
    headless: true,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },

  projects: [
    {
      name: "shared-server",
      testIgnore: Object.values(PRIVATE_SPECS),
      use: { baseURL: serverUrl(SERVERS.shared) },
    },
    {
      name: "mail-settings-server",
      testMatch: PRIVATE_SPECS.mailSettings,
      use: { baseURL: serverUrl(SERVERS.mailSettings) },
    },
    {
      name: "instance-wide-server",
      testMatch: PRIVATE_SPECS.instanceWide,
      use: { baseURL: serverUrl(SERVERS.instanceWide) },
    },
  ],

  webServer: [server(SERVERS.shared), server(SERVERS.mailSettings), server(SERVERS.instanceWide)],
});
