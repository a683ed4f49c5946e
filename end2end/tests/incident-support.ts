// Helpers for the incident-response browser tests: extra browser contexts (one per person), the
// admin's user and security pages, the reset task a compromised password leads to, screenshots.

import type { Browser, BrowserContext, Page } from "@playwright/test";
import { waitForMail } from "./mail";
import { MEMBER_PASSWORD, expect, expectPath, fillSignIn, settle, signIn, signUp, uniqueEmail, visit } from "./support";

/** Where the screenshots of these tests go (under Playwright's output directory). */
export const SCREENS_DIR = "test-results/screens";

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENS_DIR}/${name}.png`, fullPage: true });
}

/**
 * A page in a fresh browser context (own cookies: another person or device), with the same
 * console-error check the `page` fixture has. Call `done()` at the end of the test: it fails on
 * page errors and closes the context.
 */
export interface Person {
  page: Page;
  context: BrowserContext;
  done(): Promise<void>;
}

export async function newPerson(browser: Browser, who: string): Promise<Person> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`uncaught exception: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (/^Failed to load resource: the server responded with a status of \d+/.test(text)) return;
    if (/^Blocked script execution in 'about:srcdoc' because the document's/.test(text)) return;
    problems.push(`console.error: ${text}`);
  });
  return {
    page,
    context,
    async done() {
      await context.close();
      expect(problems, `errors logged by the page of ${who}`).toEqual([]);
    },
  };
}

/** A new member, signed up and signed in (one session) in a browser of their own. */
export async function newSignedInMember(browser: Browser, prefix: string): Promise<{ email: string; member: Person }> {
  const email = uniqueEmail(prefix);
  const member = await newPerson(browser, "the member");
  await signUp(member.page, email, MEMBER_PASSWORD);
  await signIn(member.page, email, MEMBER_PASSWORD);
  return { email, member };
}

/** Finds `email` through the search form of /admin/users and opens its details page. */
export async function openUser(page: Page, email: string): Promise<void> {
  await visit(page, "/admin/users");
  await expect(page.getByRole("heading", { name: "Users", exact: true })).toBeVisible();
  const search = page.getByRole("search");
  await search.getByLabel("Search", { exact: true }).fill(email);
  await search.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL((url) => url.searchParams.get("q") === email);
  const link = page.getByRole("table", { name: "Users" }).getByRole("link", { name: email, exact: true });
  await expect(link).toBeVisible();
  await settle(page);
  await link.click();
  await expect(page).toHaveURL((url) => /^\/admin\/users\/\d+$/.test(url.pathname));
  await expect(page.getByRole("heading", { level: 1, name: email, exact: true })).toBeVisible();
  await settle(page);
}

/** Reloads `/account` and expects to be sent to sign in: the session is gone. */
export async function expectSignedOut(page: Page): Promise<void> {
  await visit(page, "/account");
  await expectPath(page, "/sign-in");
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
}

/** Signs in with a compromised password and expects the reset task instead of the account. */
export async function signInToResetTask(page: Page, email: string, password: string): Promise<void> {
  await fillSignIn(page, email, password);
  await expectPath(page, "/reset-task");
  await expect(page.getByRole("heading", { name: "Reset your password" })).toBeVisible();
  await expect(page.getByLabel("Code", { exact: true })).toBeVisible();
  await settle(page);
}

const CODE_SUBJECT = "Your Keywarden verification code";

/**
 * The verification code mailed to `email` (waits for the mail; each test's users get one). The
 * code is only in the body, on a line of its own; never in the subject.
 */
export async function verificationCode(email: string): Promise<string> {
  const mail = await waitForMail(email, CODE_SUBJECT);
  const code = mail.text.match(/^\s*(\d{6})\s*$/m)?.[1];
  expect(code, `a 6-digit code on its own line in:\n${mail.text}`).toBeDefined();
  expect(mail.subject, "no code in the subject").not.toMatch(/\d{6}/);
  return code!;
}

/** Enters the mailed code on the reset task's first step. */
export async function verifyCode(page: Page, code: string): Promise<void> {
  await page.getByLabel("Code", { exact: true }).fill(code);
  await page.getByRole("button", { name: "Verify code" }).click();
  await expect(page.getByText("Thanks, your e-mail is confirmed.")).toBeVisible();
  await expect(page.getByLabel("New password", { exact: true })).toBeVisible();
  await settle(page);
}

/** Fills the reset task's second step (new password twice) and submits it. */
export async function submitNewPassword(page: Page, password: string): Promise<void> {
  await page.getByLabel("New password", { exact: true }).fill(password);
  await page.getByLabel("Repeat new password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Set new password" }).click();
}
