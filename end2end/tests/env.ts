// Settings shared by playwright.config.ts and the tests. The defaults match scripts/e2e-server.sh.

export const PORT = Number(process.env.E2E_PORT ?? "3100");
export const BASE_URL = `http://127.0.0.1:${PORT}`;

export const ADMIN_EMAIL = process.env.E2E_ADMIN_EMAIL ?? "admin@example.com";
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? "Vivid-Harbor-Lantern-2931";

// The maildev mail sink (scripts/test.sh starts it and sets both). Without KEYWARDEN_TEST_SMTP_PORT
// the server writes mails to files and the tests that read mail are skipped (fail under CI).
export const SMTP_PORT = process.env.KEYWARDEN_TEST_SMTP_PORT || undefined;
export const MAILDEV_URL = (
  process.env.KEYWARDEN_TEST_MAILDEV_URL || "http://127.0.0.1:1080"
).replace(/\/+$/, "");
