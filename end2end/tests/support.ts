// Helpers for the Keywarden browser tests. Locators follow the UI contract: roles, accessible
// names and labels only. The site header repeats some controls ("Sign out", "Admin console"), so
// page content is looked up inside the `main` landmark.

import { test as base, expect, type Page, type Response } from "@playwright/test";

export { expect };
export { ADMIN_EMAIL, ADMIN_PASSWORD } from "./env";

// A password the policy accepts (>= 12 characters, not common, no e-mail local part in it).
export const MEMBER_PASSWORD = "Quartz-Meadow-Falcon-4817";

/**
 * `page`, but the test fails when the page throws or logs a console error: a wasm panic or a
 * broken hydration would otherwise go unnoticed, because the forms also work without JavaScript.
 * Failed HTTP responses (expected 401/403/404 answers) are not counted.
 */
export const test = base.extend({
  page: async ({ page }, use) => {
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`uncaught exception: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const text = message.text();
      if (/^Failed to load resource: the server responded with a status of \d+/.test(text)) return;
      // Playwright's own trace snapshotter tries to run a script in every frame; in the sandboxed
      // mail-preview iframe (sandbox="", no scripts of its own) Chromium logs this. Not the app's.
      if (/^Blocked script execution in 'about:srcdoc' because the document's/.test(text)) return;
      problems.push(`console.error: ${text}`);
    });
    await use(page);
    expect(problems, "errors logged by the page").toEqual([]);
  },
});

/** An address no other test (or earlier run against the same database) uses. */
export function uniqueEmail(prefix: string): string {
  const nonce = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  return `${prefix}-${nonce}@example.com`;
}

/** Waits until the page has loaded its wasm and hydrated (no requests for 500 ms). */
export async function settle(page: Page): Promise<void> {
  await page.waitForLoadState("networkidle");
}

/** Navigates to `path`, waits for hydration, returns the main document's response. */
export async function visit(page: Page, path: string): Promise<Response> {
  const response = await page.goto(path);
  expect(response, `no response for ${path}`).not.toBeNull();
  await settle(page);
  return response!;
}

/** Expects the current URL's path to be `pathname` (any query string). */
export async function expectPath(page: Page, pathname: string): Promise<void> {
  await expect(page).toHaveURL((url) => url.pathname === pathname);
}

export async function fillSignUp(page: Page, email: string, password: string): Promise<void> {
  await visit(page, "/sign-up");
  await expect(page.getByRole("heading", { name: "Create your account" })).toBeVisible();
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
}

/** Signs up through the form and checks that it lands on the sign-in page. */
export async function signUp(page: Page, email: string, password: string): Promise<void> {
  await fillSignUp(page, email, password);
  await expectPath(page, "/sign-in");
  await expect(page.getByText(/^Sign-up complete\. Sign in to continue\./)).toBeVisible();
  await settle(page);
}

export async function fillSignIn(page: Page, email: string, password: string): Promise<void> {
  if (new URL(page.url()).pathname !== "/sign-in") await visit(page, "/sign-in");
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Signs in through the form and checks that it lands on the account page. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await fillSignIn(page, email, password);
  await expectPath(page, "/account");
  await expect(page.getByRole("heading", { name: "Your account" })).toBeVisible();
  await expect(page.getByRole("main").getByText(`Signed in as ${email}`)).toBeVisible();
  await settle(page);
}
