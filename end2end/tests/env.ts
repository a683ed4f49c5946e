// Settings shared by playwright.config.ts and the tests. The defaults match scripts/e2e-server.sh.

/** Port of the server most specs share; the private servers take the next ports (see SERVERS). */
export const PORT = Number(process.env.E2E_PORT ?? "3100");

/**
 * The servers playwright.config.ts starts, each with a fresh database of its own. Most specs share
 * one; a spec that changes the whole instance (settings every mail uses, every password
 * compromised) gets its own, so no spec depends on the order or the company it runs in.
 */
export const SERVERS = {
  shared: PORT,
  mailSettings: PORT + 1,
  instanceWide: PORT + 2,
} as const;

/** A server's base URL. In a test, use the `baseURL` fixture: the server of the test's project. */
export function serverUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

export const ADMIN_EMAIL = process.env.E2E_ADMIN_EMAIL ?? "admin@example.com";
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? "Vivid-Harbor-Lantern-2931";

// The maildev mail sink (scripts/test.sh starts it and sets both). Without KEYWARDEN_TEST_SMTP_PORT
// the servers write mails to files and the tests that read mail are skipped (fail under CI). All
// servers send to the same maildev; tests pick mails by their own unique recipient addresses.
export const SMTP_PORT = process.env.KEYWARDEN_TEST_SMTP_PORT || undefined;
export const MAILDEV_URL = (
  process.env.KEYWARDEN_TEST_MAILDEV_URL || "http://127.0.0.1:1080"
).replace(/\/+$/, "");
