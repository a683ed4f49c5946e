import { expectSettledMailCount, mailsTo, requireMailSink, waitForMail, type Mail } from "./mail";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  MEMBER_PASSWORD,
  expect,
  expectPath,
  settle,
  signIn,
  signUp,
  test,
  uniqueEmail,
  visit,
} from "./support";
import { newPerson, openUser } from "./incident-support";
import type { Locator, Page } from "@playwright/test";

// Devices and new-device alerts. Every browser context is one device (its own device cookie):
// the Devices page lists the account's sessions with the current one marked "This device"; a
// session can be signed out from another device, by the "This wasn't me" link of the alert mail
// or by an administrator, and the ended session is listed with the reason.

const ALERT_SUBJECT = "New sign-in to your Keywarden account";
const NOT_ME_LINK_TEXT = "This wasn't me — sign out that device";

/** Where the screenshots go (relative to end2end/, under Playwright's output directory). */
const shot = (name: string) => `test-results/${name}.png`;

/** Opens /account/devices and waits until the sessions are listed. */
async function openDevices(page: Page): Promise<void> {
  await visit(page, "/account/devices");
  await expectPath(page, "/account/devices");
  await expect(page.getByRole("heading", { level: 1, name: "Devices" })).toBeVisible();
  await expect(page.getByRole("heading", { level: 2, name: "Active sessions" })).toBeVisible();
  await expect(activeTable(page)).toBeVisible();
}

/** Reaches the Devices page the way a user does: the "Devices" link on the account page. */
async function openDevicesFromAccount(page: Page): Promise<void> {
  await visit(page, "/account");
  await expectPath(page, "/account");
  await page.getByRole("main").getByRole("link", { name: "Devices", exact: true }).click();
  await expectPath(page, "/account/devices");
  await expect(page.getByRole("heading", { level: 1, name: "Devices" })).toBeVisible();
  await expect(activeTable(page)).toBeVisible();
  await settle(page);
}

function activeTable(page: Page): Locator {
  return page.getByRole("main").getByRole("table", { name: "Active sessions" });
}

function endedTable(page: Page): Locator {
  return page.getByRole("main").getByRole("table", { name: "Ended sessions" });
}

/** The rows of a table that hold cells (not the row of column headers). */
function dataRows(table: Locator): Locator {
  return table.getByRole("row").filter({ has: table.page().getByRole("cell") });
}

function activeRows(page: Page): Locator {
  return dataRows(activeTable(page));
}

/** The "This device" mark of a row. */
function thisDeviceMark(page: Page): Locator {
  return page.getByText("This device", { exact: true });
}

/**
 * The row of the session `key`. Sessions of the same browser signed in within the same minute
 * look alike (same browser, system, IP address, times to the minute): nothing visible tells them
 * apart, so rows are told apart by the session key each carries (`data-session`, not shown).
 */
function rowOf(table: Locator, key: string): Locator {
  return table.getByRole("row").and(table.locator(`[data-session="${key}"]`));
}

async function keyOf(row: Locator): Promise<string> {
  const key = await row.getAttribute("data-session");
  expect(key, "the row carries its session key").toBeTruthy();
  return key!;
}

/** The cell of `row` in the column headed `heading` of `table`. */
async function cell(table: Locator, row: Locator, heading: string): Promise<Locator> {
  const headings = (await table.getByRole("columnheader").allInnerTexts()).map((h) => h.trim());
  const column = headings.indexOf(heading);
  expect(column, `a column "${heading}" in ${JSON.stringify(headings)}`).toBeGreaterThanOrEqual(0);
  return row.getByRole("cell").nth(column);
}

/**
 * The key of the page's own session: the one row marked "This device", which is listed first.
 */
async function currentKey(page: Page): Promise<string> {
  await expect(activeTable(page).getByText("This device", { exact: true })).toHaveCount(1);
  const current = activeRows(page).filter({ has: thisDeviceMark(page) });
  await expect(current).toHaveCount(1);
  const key = await keyOf(current);
  // The order is part of the page: this device comes first.
  await expect(activeRows(page).first(), "this device is listed first").toHaveAttribute(
    "data-session",
    key,
  );
  return key;
}

/** The keys of the active sessions not marked "This device"; expects `count` of them. */
async function otherKeys(page: Page, count: number): Promise<string[]> {
  const others = activeRows(page).filter({ hasNot: thisDeviceMark(page) });
  await expect(others).toHaveCount(count);
  const keys = [];
  for (const row of await others.all()) keys.push(await keyOf(row));
  return keys;
}

/** Expects the session `key` in the "Ended sessions" table of `scope`, with `reason`. */
async function expectEnded(scope: Page | Locator, key: string, reason: string): Promise<void> {
  const table = scope.getByRole("table", { name: "Ended sessions" });
  const row = rowOf(table, key);
  await expect(row).toBeVisible();
  await expect(await cell(table, row, "Reason")).toHaveText(reason);
}

/** The next visit to /account sends this device to sign in: its session is gone. */
async function expectSignedOut(page: Page): Promise<void> {
  await page.goto("/account");
  await expect(page).toHaveURL(
    (url) => url.pathname === "/sign-in" && url.searchParams.get("next") === "/account",
  );
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await settle(page);
}

/** The device is still signed in: /account answers 200 and stays there. */
async function expectStillSignedIn(page: Page, email: string): Promise<void> {
  const response = await visit(page, "/account");
  expect(response.status(), "GET /account").toBe(200);
  await expectPath(page, "/account");
  await expect(page.getByRole("main").getByText(`Signed in as ${email}`)).toBeVisible();
}

async function alertMails(email: string): Promise<Mail[]> {
  return (await mailsTo(email)).filter((mail) => mail.subject === ALERT_SUBJECT);
}

/** The links of an HTML mail (`href` and text), with character references decoded. */
function links(html: string): { href: string; text: string }[] {
  const decode = (value: string) =>
    value
      .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
      .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(parseInt(dec, 10)))
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&mdash;/g, "—")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
  return [...html.matchAll(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi)].map((m) => ({
    href: decode(m[1]),
    text: decode(m[2].replace(/<[^>]*>/g, "")).replace(/\s+/g, " ").trim(),
  }));
}

/**
 * The definition of `term` in the facts list of the alert page ("Status" → "Still signed in"):
 * each term and its definition are grouped together, so the definition is the one in the term's
 * group.
 */
function fact(page: Page, term: string): Locator {
  return page
    .getByRole("main")
    .getByRole("term")
    .filter({ hasText: new RegExp(`^${term}$`) })
    .locator("..")
    .getByRole("definition");
}

test("two devices: each lists both, with This device on the right one; signing out the other kills it", async ({
  browser,
  page,
}) => {
  const email = uniqueEmail("devices-two");
  await signUp(page, email, MEMBER_PASSWORD);
  await signIn(page, email, MEMBER_PASSWORD);
  const b = await newPerson(browser, "device B");
  await signIn(b.page, email, MEMBER_PASSWORD);

  // A's list: both sessions, A's own first and marked.
  await openDevicesFromAccount(page);
  await expect(activeRows(page)).toHaveCount(2);
  const aKey = await currentKey(page);
  const [bKey] = await otherKeys(page, 1);
  expect(bKey).not.toBe(aKey);
  const bRowOnA = rowOf(activeTable(page), bKey);
  await expect(bRowOnA.getByText("This device", { exact: true })).toHaveCount(0);
  // Only the other session can be signed out one by one; the current one has no such button.
  await expect(rowOf(activeTable(page), aKey).getByRole("button")).toHaveCount(0);
  await expect(bRowOnA.getByRole("button", { name: /^Sign out / })).toBeVisible();
  await expect(page.getByRole("button", { name: "Sign out of all other sessions" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Sign out everywhere" })).toBeVisible();
  // Signed in just now: no step-up password asked.
  await expect(page.getByLabel("Your password")).toHaveCount(0);
  await page.screenshot({ path: shot("devices-two"), fullPage: true });

  // B's list: the same two sessions, B's own marked this time.
  await openDevices(b.page);
  await expect(activeRows(b.page)).toHaveCount(2);
  expect(await currentKey(b.page), "B's page marks B's own session").toBe(bKey);
  await expect(
    rowOf(activeTable(b.page), aKey).getByText("This device", { exact: true }),
  ).toHaveCount(0);

  // A signs B out.
  await rowOf(activeTable(page), bKey).getByRole("button", { name: /^Sign out / }).click();
  await expect(
    page.getByRole("status").filter({ hasText: "That session was signed out." }),
  ).toBeVisible();
  await expect(activeRows(page)).toHaveCount(1);
  expect(await currentKey(page)).toBe(aKey);
  await expect(page.getByRole("button", { name: "Sign out of all other sessions" })).toHaveCount(0);
  await expect(page.getByRole("heading", { level: 2, name: "Recently ended sessions" })).toBeVisible();
  await expectEnded(page.getByRole("main"), bKey, "Signed out from another device");

  // B is signed out at its next navigation.
  await expectSignedOut(b.page);

  // The reason survives a reload of A's page.
  await openDevices(page);
  await expect(activeRows(page)).toHaveCount(1);
  await expectEnded(page.getByRole("main"), bKey, "Signed out from another device");
  await page.screenshot({ path: shot("devices-after"), fullPage: true });

  await b.done();
});

test("sign out of all other sessions keeps this one", async ({ browser, page }) => {
  const email = uniqueEmail("devices-others");
  await signUp(page, email, MEMBER_PASSWORD);
  await signIn(page, email, MEMBER_PASSWORD);
  const b = await newPerson(browser, "device B");
  const c = await newPerson(browser, "device C");
  await signIn(b.page, email, MEMBER_PASSWORD);
  await signIn(c.page, email, MEMBER_PASSWORD);

  await openDevices(page);
  await expect(activeRows(page)).toHaveCount(3);
  const aKey = await currentKey(page);
  const others = await otherKeys(page, 2);

  await page.getByRole("button", { name: "Sign out of all other sessions" }).click();
  await expect(
    page.getByRole("status").filter({ hasText: "Signed out of 2 other sessions." }),
  ).toBeVisible();
  await expectPath(page, "/account/devices");
  await expect(activeRows(page)).toHaveCount(1);
  expect(await currentKey(page)).toBe(aKey);
  await expect(page.getByRole("button", { name: "Sign out of all other sessions" })).toHaveCount(0);
  for (const key of others) {
    await expectEnded(page.getByRole("main"), key, "Signed out from another device");
  }

  await expectSignedOut(b.page);
  await expectSignedOut(c.page);
  // This device is still signed in.
  await expectStillSignedIn(page, email);

  await b.done();
  await c.done();
});

test("a new device gets one alert mail, and This wasn't me signs out exactly that session", async ({
  browser,
  page,
  baseURL,
}) => {
  requireMailSink();
  const email = uniqueEmail("devices-alert");
  const isAlert = (mail: Mail) => mail.subject === ALERT_SUBJECT;
  // The admin reads the server's outbox (to know when no more mail can come) and the audit trail.
  const admin = await newPerson(browser, "the admin");
  await signIn(admin.page, ADMIN_EMAIL, ADMIN_PASSWORD);

  // The account's first device: no alert, once every mail queued so far has gone out.
  await signUp(page, email, MEMBER_PASSWORD);
  await signIn(page, email, MEMBER_PASSWORD);
  await expectSettledMailCount(admin.page, email, isAlert, 0);
  expect(await alertMails(email), "no alert for the first device").toEqual([]);

  // A second device: one alert.
  const b = await newPerson(browser, "device B");
  await signIn(b.page, email, MEMBER_PASSWORD);
  const mail = await waitForMail(email, ALERT_SUBJECT);
  expect(mail.subject).toBe(ALERT_SUBJECT);
  await expectSettledMailCount(admin.page, email, isAlert, 1);
  expect(mail.text).toContain("Sign-in method: Password");

  const notMe = links(mail.html).find((link) => link.text === NOT_ME_LINK_TEXT);
  expect(notMe, `a "${NOT_ME_LINK_TEXT}" link in the HTML mail:\n${mail.html}`).toBeTruthy();
  const link = notMe!.href;
  expect(link).toMatch(
    new RegExp(`^${baseURL!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/unauthorized-sign-in\\?token=[^&\\s]+$`),
  );
  expect(mail.text, "the text part has the same link").toContain(link);

  // Which session is B's (the one the alert is about).
  await openDevices(b.page);
  const bKey = await currentKey(b.page);
  const bTable = activeTable(b.page);
  const bSignedIn = (await (await cell(bTable, rowOf(bTable, bKey), "First signed in")).innerText()).trim();
  expect(bSignedIn).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);

  // The link opens in any browser, signed in or not; looking changes nothing.
  const reader = await newPerson(browser, "the mail reader");
  await visit(reader.page, link);
  const main = reader.page.getByRole("main");
  await expect(
    main.getByRole("heading", { level: 1, name: "A sign-in you don't recognise?" }),
  ).toBeVisible();
  await expect(fact(reader.page, "Signed in")).toHaveText(bSignedIn);
  for (const term of ["Device", "Browser", "Operating system", "IP address"]) {
    await expect(fact(reader.page, term)).not.toBeEmpty();
  }
  await expect(fact(reader.page, "Location")).toHaveText("unknown");
  await expect(fact(reader.page, "Status")).toHaveText("Still signed in");
  const compromise = main.getByRole("checkbox", { name: /^\s*My password may be known/ });
  await expect(compromise).toBeChecked();
  const everywhere = main.getByRole("checkbox", { name: /^\s*Sign out everywhere/ });
  await expect(everywhere).not.toBeChecked();
  const signOutThat = main.getByRole("button", { name: "Sign out that device" });
  await expect(signOutThat).toBeVisible();
  await reader.page.screenshot({ path: shot("devices-not-me"), fullPage: true });

  await reader.page.reload();
  await settle(reader.page);
  await expect(fact(reader.page, "Status")).toHaveText("Still signed in");
  await expectStillSignedIn(b.page, email);

  // Sign out that device only, leaving the password alone.
  await compromise.uncheck();
  await expect(compromise).not.toBeChecked();
  await signOutThat.click();
  await expect(
    main.getByRole("status").filter({ hasText: "That device has been signed out." }),
  ).toBeVisible();
  await expect(main.getByText(/Your password is now set as compromised/)).toHaveCount(0);
  await reader.page.screenshot({ path: shot("devices-not-me-done"), fullPage: true });

  await expectSignedOut(b.page);

  // Exactly that session: A is still signed in and sees why B's session ended.
  await expectStillSignedIn(page, email);
  await openDevices(page);
  await expect(activeRows(page)).toHaveCount(1);
  await currentKey(page);
  await expect(rowOf(activeTable(page), bKey)).toHaveCount(0);
  await expectEnded(page.getByRole("main"), bKey, "Reported as not me from the alert e-mail");
  await page.screenshot({ path: shot("devices-reported"), fullPage: true });

  // The link works once.
  await visit(reader.page, link);
  await expect(
    main.getByRole("alert").filter({ hasText: "This link has already been used." }),
  ).toBeVisible();
  await expect(main.getByRole("button", { name: "Sign out that device" })).toHaveCount(0);

  // A device reported as not me is forgotten: signing in from it again (the password was left
  // alone, so straight to the account) raises a new alert.
  await signIn(b.page, email, MEMBER_PASSWORD);
  await expect
    .poll(async () => (await alertMails(email)).length, { timeout: 20_000 })
    .toBe(2);
  await expectSettledMailCount(admin.page, email, isAlert, 2);

  // The report is in the audit trail, against the user, and so are both alerts.
  await visit(admin.page, `/admin/audit?target=${encodeURIComponent(email)}`);
  const entries = admin.page.getByRole("table", { name: "Audit entries" });
  for (const [action, count] of [
    ["Sign-in reported as not me", 1],
    ["New-device alert sent", 2],
  ] as const) {
    await expect(
      entries
        .getByRole("row")
        .filter({ has: admin.page.getByRole("cell", { name: action, exact: true }) }),
      `audit rows ${action}`,
    ).toHaveCount(count);
  }
  await admin.page.screenshot({ path: shot("devices-audit"), fullPage: true });
  await admin.done();

  await reader.done();
  await b.done();
});

test("an unknown alert link gets a clear page", async ({ page }) => {
  await visit(page, "/unauthorized-sign-in?token=nope");
  const main = page.getByRole("main");
  await expect(
    main.getByRole("heading", { level: 1, name: "A sign-in you don't recognise?" }),
  ).toBeVisible();
  await expect(main.getByRole("alert")).toHaveText("This link is not valid.");
  await expect(main.getByRole("button", { name: "Sign out that device" })).toHaveCount(0);
  await expect(main.getByRole("link", { name: "Review your devices" })).toBeVisible();
  // No error trace or internal detail leaks into the page.
  const text = await page.locator("body").innerText();
  expect(text).not.toMatch(/panick|backtrace|stack trace|ServerFnError|sqlx|\.rs:\d+|internal error/i);
});

test("the admin sees the same sessions and can sign one out; the user sees the reason", async ({
  browser,
  page,
}) => {
  const email = uniqueEmail("devices-admin");
  await signUp(page, email, MEMBER_PASSWORD);
  await signIn(page, email, MEMBER_PASSWORD);
  const b = await newPerson(browser, "device B");
  await signIn(b.page, email, MEMBER_PASSWORD);
  await openDevices(b.page);
  const bKey = await currentKey(b.page);
  await openDevices(page);
  const aKey = await currentKey(page);

  const admin = await newPerson(browser, "the admin");
  await signIn(admin.page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await openUser(admin.page, email);
  const sessions = admin.page.getByRole("region", { name: "Sessions", exact: true });
  const table = sessions.getByRole("table", { name: "Active sessions" });
  await expect(dataRows(table)).toHaveCount(2);
  await expect(rowOf(table, aKey)).toBeVisible();
  await expect(rowOf(table, bKey)).toBeVisible();
  // The admin's view marks neither of the user's sessions as "This device".
  await expect(table.getByText("This device", { exact: true })).toHaveCount(0);

  await rowOf(table, bKey).getByRole("button", { name: /^Sign out session on / }).click();
  await expect(rowOf(table, bKey)).toHaveCount(0);
  await expect(dataRows(table)).toHaveCount(1);
  await expect(sessions.getByRole("heading", { name: "Ended in the last 30 days" })).toBeVisible();
  await expectEnded(sessions, bKey, "Signed out by an administrator");

  // B is signed out; A is not, and sees why B's session ended.
  await expectSignedOut(b.page);
  await openDevices(page);
  await expect(activeRows(page)).toHaveCount(1);
  expect(await currentKey(page)).toBe(aKey);
  await expectEnded(page.getByRole("main"), bKey, "Signed out by an administrator");

  await admin.done();
  await b.done();
});
