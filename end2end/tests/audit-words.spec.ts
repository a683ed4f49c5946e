// The audit trail and a user's history read as words at 1280 px: the action's label, not its
// code; actors as people say them ("command line (root)"); one line per entry, the rest behind a
// "Details" disclosure that holds the code and the shortened hash. The codes stay in exports.

import type { Locator, Page } from "@playwright/test";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  MEMBER_PASSWORD,
  expect,
  settle,
  signIn,
  signUp,
  test,
  uniqueEmail,
  visit,
} from "./support";
import { newPerson, openUser, screenshot } from "./incident-support";

test.use({ viewport: { width: 1280, height: 900 } });

const REASON = "Audit words test: leaked in a paste";
const WINDOWS_CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/** Calls a server function as the signed-in admin of `page` (its cookies, its origin). */
async function call(page: Page, endpoint: string, form: Record<string, string>): Promise<void> {
  const origin = new URL(page.url()).origin;
  const response = await page.request.post(`${origin}/api/${endpoint}`, { form, headers: { origin } });
  expect(response.ok(), `POST /api/${endpoint}: ${response.status()} ${await response.text()}`).toBe(true);
}

/** The entry rows of the audit table (the header row left out). */
function entryRows(page: Page): Locator {
  return page.getByRole("table", { name: "Audit entries" }).locator("tbody").getByRole("row");
}

test("the audit trail shows one readable line per entry, in words, with details on demand", async ({
  browser,
  page,
}) => {
  // About twenty entries against one member: sign-up, a sign-in from "Windows", a wrong
  // password, the compromise, then the account disabled and enabled again eight times.
  const email = uniqueEmail("audit-words");
  const member = await newPerson(browser, "the member");
  await signUp(member.page, email, MEMBER_PASSWORD);
  const origin = new URL(member.page.url()).origin;
  const signInAs = (password: string, userAgent?: string) =>
    member.page.request.post(`${origin}/api/sign_in`, {
      form: { email, password, next: "" },
      headers: { origin, accept: "application/json", ...(userAgent ? { "user-agent": userAgent } : {}) },
    });
  expect((await signInAs(MEMBER_PASSWORD, WINDOWS_CHROME)).ok()).toBe(true);
  await signInAs("not-the-password-at-all");
  await member.done();

  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await openUser(page, email);
  const userId = new URL(page.url()).pathname.split("/").pop()!;
  await call(page, "admin_compromise_user", { user_id: userId, reason: REASON });
  for (let i = 0; i < 8; i++) {
    await call(page, "admin_set_disabled", { user_id: userId, disabled: "true" });
    await call(page, "admin_set_disabled", { user_id: userId, disabled: "false" });
  }

  await visit(page, `/admin/audit?target=${encodeURIComponent(email)}`);
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();
  const table = page.getByRole("table", { name: "Audit entries" });
  const rows = entryRows(page);
  await expect(rows.first()).toBeVisible();
  const count = await rows.count();
  expect(count, "entries against the member").toBeGreaterThanOrEqual(20);

  // Words, not codes: the label is the cell, the code is not part of the visible text.
  const compromised = rows.filter({
    has: page.getByRole("cell", { name: "Password set as compromised", exact: true }),
  });
  await expect(compromised).toHaveCount(1);
  await expect(compromised).toContainText(ADMIN_EMAIL);
  await expect(rows.filter({ has: page.getByRole("cell", { name: "Account disabled", exact: true }) })).toHaveCount(8);
  await expect(
    rows
      .filter({ has: page.getByRole("cell", { name: "Sign-in failed", exact: true }) })
      .filter({ has: page.getByRole("cell", { name: "anonymous visitor", exact: true }) }),
  ).toHaveCount(1);
  const visibleText = await table.innerText();
  for (const code of ["user.password_compromised", "user.disabled", "auth.sign_in", "user.created"]) {
    expect(visibleText, `the table's visible text shows no ${code}`).not.toContain(code);
  }

  // One line per entry, and a page of this size stays short, without sideways scrolling.
  for (const row of await rows.all()) {
    const box = await row.boundingBox();
    expect(box!.height, `height of the row "${await row.innerText()}"`).toBeLessThan(60);
  }
  const size = await page.evaluate(() => ({
    height: document.documentElement.scrollHeight,
    width: document.documentElement.scrollWidth,
    viewport: document.documentElement.clientWidth,
  }));
  expect(size.height, `page height with ${count} entries`).toBeLessThan(2500);
  expect(size.width, "no horizontal scrolling").toBeLessThanOrEqual(size.viewport);
  await screenshot(page, "audit-words");

  // The disclosure holds the rest: the code, where from in words, the reason, the hash.
  const details = compromised.getByRole("group");
  await expect(details.getByText("user.password_compromised", { exact: true })).toBeHidden();
  await compromised.getByText("Details", { exact: true }).click();
  await expect(details.getByText("user.password_compromised", { exact: true })).toBeVisible();
  await expect(details).toContainText(REASON);
  const hash = details.locator("code[title]").last();
  await expect(hash).toBeVisible();
  const full = await hash.getAttribute("title");
  expect(full, "the full hash in the title").toMatch(/^[0-9a-f]{64}$/);
  // The whole value is in the text (selecting it copies all of it); only about 12 digits show.
  expect(await hash.textContent()).toBe(full);
  expect((await hash.boundingBox())!.width, "the shown hash is short").toBeLessThan(150);
  await screenshot(page, "audit-words-details");

  // The member's sign-in from Windows reads as a person would say it.
  const signedIn = rows.filter({ has: page.getByRole("cell", { name: "Signed in", exact: true }) });
  await signedIn.getByText("Details", { exact: true }).click();
  await expect(signedIn.getByRole("group")).toContainText("Chrome 131 on Windows");

  // The exports keep the codes.
  const pageOrigin = new URL(page.url()).origin;
  const csv = await page.request.get(`${pageOrigin}/admin/audit/export.csv?target=${encodeURIComponent(email)}`, {
    headers: { "sec-fetch-site": "same-origin", referer: page.url() },
  });
  expect(csv.ok(), `export: ${csv.status()} ${await csv.text()}`).toBe(true);
  const text = await csv.text();
  expect(text).toContain('"user.password_compromised"');
  expect(text).not.toContain("Password set as compromised");
});

test("an administrator created on the command line reads as created by the command line", async ({
  page,
}) => {
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await visit(page, `/admin/audit?action=user.created&target=${encodeURIComponent(ADMIN_EMAIL)}`);
  const created = entryRows(page).filter({
    has: page.getByRole("cell", { name: "Account created", exact: true }),
  });
  await expect(created).toHaveCount(1);
  await expect(created.getByRole("cell", { name: /^command line \(.+\)$/ })).toHaveCount(1);

  // The same words in the user's history.
  await openUser(page, ADMIN_EMAIL);
  await settle(page);
  const history = page.getByRole("table", { name: "History" });
  const row = history.getByRole("row").filter({
    has: page.getByRole("cell", { name: "Account created", exact: true }),
  });
  await expect(row).toHaveCount(1);
  await expect(row.getByRole("cell", { name: /^command line \(.+\)$/ })).toHaveCount(1);
});
