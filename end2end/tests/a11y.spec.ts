import AxeBuilder from "@axe-core/playwright";
import type { Locator, Page } from "@playwright/test";
import { requireMailSink, waitForMail } from "./mail";
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
import { newPerson, openUser, signInToResetTask, type Person } from "./incident-support";

// Accessibility (WCAG 2.2 AA): axe on every page of the app, signed out, as a member and as an
// administrator, and again with each danger dialog and disclosure open; the danger dialogs work
// with the keyboard alone; every focusable element shows where the focus is.
//
// axe finds what a machine can find (contrast, names, labels, landmarks, ids, list structure); a
// page without violations is not proof of an accessible page, only the floor. Serious and critical
// violations fail the test; every violation found is printed, so a failure is readable in the log.
// The checks are soft: one run reports every page, not only the first that fails.
//
// Runs on the shared server: the admin acts only on a member of this spec's own, never submits the
// instance-wide dialogs, and closes the incident it opens.

const WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
const ALERT_SUBJECT = "New sign-in to your Keywarden account";
const FAILING_IMPACTS = new Set(["serious", "critical"]);

/** Runs axe on the page as it is now; serious and critical violations fail the test (softly). */
async function audit(page: Page, what: string): Promise<void> {
  // The mail preview is a sandboxed frame without scripts: axe cannot run inside it (and waits
  // for it forever). It shows a mail, not the page; the frame element itself keeps its title.
  const { violations } = await new AxeBuilder({ page })
    .withTags(WCAG_TAGS)
    .exclude("iframe[sandbox]")
    .analyze();
  const found = violations.flatMap((v) =>
    v.nodes.map((n) => `${v.impact ?? "?"} ${v.id}: ${n.target.join(" ")} (${v.help})`),
  );
  // One line per violation, prefixed, so a run's results can be grepped and counted by rule.
  for (const line of found) console.log(`axe ${what} | ${line}`);
  const failing = violations
    .filter((v) => FAILING_IMPACTS.has(v.impact ?? ""))
    .flatMap((v) => v.nodes.map((n) => `${v.impact} ${v.id}: ${n.target.join(" ")} — ${n.failureSummary ?? v.help}`));
  expect.soft(failing, `serious or critical axe violations on ${what}`).toEqual([]);
}

async function auditPath(page: Page, path: string, what = path): Promise<void> {
  await visit(page, path);
  await audit(page, what);
}

/** Opens the disclosure whose summary reads `summary` (a click: this is not the keyboard test). */
async function openDisclosure(scope: Page | Locator, summary: string): Promise<Locator> {
  const page = "page" in scope && typeof scope.page === "function" ? scope.page() : (scope as Page);
  const group = scope
    .getByRole("group")
    .filter({ has: page.getByText(summary, { exact: true }) })
    .first();
  await group.getByText(summary, { exact: true }).first().click();
  await expect(group).toHaveJSProperty("open", true);
  return group;
}

async function closeDisclosure(group: Locator): Promise<void> {
  await group.locator("summary").first().click();
  await expect(group).toHaveJSProperty("open", false);
}

/** The Security page's danger dialog opened by the summary `opener`. */
function dangerDialog(page: Page, opener: string): Locator {
  return page.getByRole("group").filter({ has: page.getByText(opener, { exact: true }) });
}

/**
 * Presses Tab until `target` has the focus (at most `max` times), the way a keyboard user gets
 * there; fails when it never does.
 */
async function tabTo(page: Page, target: Locator, max = 80): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`Tab never reached ${target}`);
}

interface Focused {
  element: string;
  outline: string;
  boxShadow: string;
}

/**
 * Tabs through the whole page from its top and returns how each focused element is drawn; stops
 * when the focus leaves the page or comes back to an element seen before.
 */
async function tabThrough(page: Page, max = 120): Promise<Focused[]> {
  const seen: Focused[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      // Elements met before, kept in the page: two links may read the same.
      const w = window as unknown as { tabbed?: Element[] };
      w.tabbed ??= [];
      if (w.tabbed.includes(el)) return null;
      w.tabbed.push(el);
      const style = getComputedStyle(el);
      const name = (el.getAttribute("aria-label") ?? el.textContent ?? "").trim().slice(0, 40);
      const field = el.getAttribute("name") ?? el.id;
      return {
        element: `${el.tagName.toLowerCase()}${field ? `[${field}]` : ""} "${name}"`,
        outline:
          style.outlineStyle === "none" || parseFloat(style.outlineWidth) === 0
            ? "none"
            : `${style.outlineWidth} ${style.outlineStyle} ${style.outlineColor}`,
        boxShadow: style.boxShadow,
      };
    });
    if (!focused) break;
    seen.push(focused);
  }
  return seen;
}

function expectVisibleFocus(focused: Focused[], what: string): void {
  expect(focused.length, `focusable elements on ${what}`).toBeGreaterThan(3);
  const invisible = focused.filter((f) => f.outline === "none" && f.boxShadow === "none");
  expect(invisible, `elements of ${what} with no visible focus`).toEqual([]);
}

// One browser context per role, signed in once, shared by the tests of this file (they run in
// order, in one worker). The member is this spec's own.
let admin: Person;
let member: Person;
let memberEmail: string;

test.beforeAll(async ({ browser }) => {
  memberEmail = uniqueEmail("a11y");
  member = await newPerson(browser, "the member");
  await signUp(member.page, memberEmail, MEMBER_PASSWORD);
  await signIn(member.page, memberEmail, MEMBER_PASSWORD);
  admin = await newPerson(browser, "the admin");
  await signIn(admin.page, ADMIN_EMAIL, ADMIN_PASSWORD);
});

test.afterAll(async () => {
  await member?.done();
  await admin?.done();
});

test("signed-out pages have no serious or critical axe violations", async ({ page }) => {
  await auditPath(page, "/", "home");
  await auditPath(page, "/sign-in");
  await auditPath(page, "/sign-up");
  await auditPath(page, "/forgot-password");
  await visit(page, "/reset-password?token=not-a-real-token");
  await expect(page.getByRole("main").getByRole("alert")).toBeVisible();
  await audit(page, "/reset-password with a bad token");
  await auditPath(page, `/no-such-page-${Date.now()}`, "a 404 page");
  await visit(page, "/unauthorized-sign-in?token=not-a-real-token");
  await expect(page.getByText("This link is not valid.")).toBeVisible();
  await audit(page, "the This wasn't me page with a bad link");

  // A form refused with field errors (the messages and their links are checked too).
  await visit(page, "/sign-up");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("main").locator(".field-error").first()).toBeVisible();
  await audit(page, "/sign-up with field errors");
});

test("a member's pages, and the This wasn't me page of a real alert, have no serious or critical axe violations", async ({
  browser,
  page,
}) => {
  requireMailSink();
  await auditPath(member.page, "/account");
  await auditPath(member.page, "/account/devices");

  // A second device: an alert mail whose link opens the "This wasn't me" page (signed out).
  const second = await newPerson(browser, "the member's second device");
  await signIn(second.page, memberEmail, MEMBER_PASSWORD);
  const mail = await waitForMail(memberEmail, ALERT_SUBJECT);
  const link = mail.text.match(/https?:\/\/\S+\/unauthorized-sign-in\?token=\S+/)?.[0];
  expect(link, `a This wasn't me link in:\n${mail.text}`).toBeTruthy();
  await visit(page, link!);
  await expect(page.getByRole("heading", { name: "A sign-in you don't recognise?" })).toBeVisible();
  await audit(page, "the This wasn't me page with a valid link");
  await auditPath(member.page, "/account/devices", "/account/devices with two sessions");
  await second.done();
});

test("every admin page, with its dialogs open, has no serious or critical axe violations", async () => {
  test.setTimeout(180_000);
  const page = admin.page;

  await auditPath(page, "/admin");
  await auditPath(page, "/admin/users");

  // Security: the page, then each danger dialog open (never sent: the server is shared).
  await auditPath(page, "/admin/security");
  for (const opener of ["Set all passwords as compromised…", "Sign out everyone…"]) {
    const dialog = await openDisclosure(page, opener);
    await audit(page, `/admin/security with "${opener}" open`);
    await closeDisclosure(dialog);
  }

  // Applications: one of this spec's own, so there is a row and its "Remove…" confirmation.
  await visit(page, "/admin/applications");
  const nonce = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await page.getByLabel("Name", { exact: true }).fill(`A11y ${nonce}`);
  await page.getByLabel("Host", { exact: true }).fill(`a11y-${nonce}.example.com`);
  await page.getByRole("button", { name: "Add application" }).click();
  const appRow = page.getByRole("table", { name: "Applications" }).getByRole("row").filter({ hasText: `a11y-${nonce}.example.com` });
  await expect(appRow).toBeVisible();
  await audit(page, "/admin/applications");
  await openDisclosure(appRow, "Remove…");
  await audit(page, "/admin/applications with a Remove… confirmation open");

  // API keys: the form, then a key of this spec's own (its secret shown once, its "Revoke…").
  await auditPath(page, "/admin/api-keys");
  const create = page.getByRole("region", { name: "Create API key" });
  const keyName = `A11y ${nonce}`;
  await create.getByLabel("Name", { exact: true }).fill(keyName);
  await create.getByRole("checkbox", { name: /^users:read — / }).check();
  await create.getByLabel(/^Your password/).fill(ADMIN_PASSWORD);
  await create.getByRole("button", { name: "Create API key" }).click();
  await expect(page.getByRole("region", { name: /^New API key: / })).toBeVisible();
  await audit(page, "/admin/api-keys with a new key's secret");
  const keyRow = page.getByRole("table", { name: "API keys" }).getByRole("row").filter({ hasText: keyName });
  await openDisclosure(keyRow, "Revoke…");
  await audit(page, "/admin/api-keys with a Revoke… confirmation open");
  await keyRow.getByRole("button", { name: "Revoke key" }).click();
  await expect(keyRow.getByText("Revoked", { exact: true })).toBeVisible();

  // Incidents: the list, an incident of this spec's own with its cohort preview (the apply form)
  // and a timeline entry's details open; closed at the end.
  await auditPath(page, "/admin/incidents");
  await page.getByRole("button", { name: "Open incident" }).click();
  await expect(page.getByText("Required.")).toBeVisible();
  await audit(page, "/admin/incidents with field errors");
  await page.getByLabel("Title").fill("Accessibility check (browser test)");
  await page.getByRole("button", { name: "Open incident" }).click();
  await expect(page).toHaveURL((url) => /^\/admin\/incidents\/\d+$/.test(url.pathname));
  await settle(page);
  await audit(page, "an incident page");
  await page.getByLabel("E-mail addresses").fill(memberEmail);
  await page.getByRole("button", { name: "Preview" }).click();
  await expect(page.getByRole("heading", { name: "1 user match" })).toBeVisible();
  await openDisclosure(page.getByRole("region", { name: "Timeline" }), "Details");
  await audit(page, "an incident page with the cohort apply form and a timeline entry open");
  await page.getByRole("button", { name: "Close incident" }).click();
  await expect(page.getByText(/ · closed /).first()).toBeVisible();
  await audit(page, "a closed incident page");

  // E-mail and a template editor.
  await auditPath(page, "/admin/email");
  await page.getByRole("region", { name: "Templates" }).getByRole("link").first().click();
  await expect(page).toHaveURL((url) => url.pathname.startsWith("/admin/email/templates/"));
  // Not `settle`: the live preview frame can keep "networkidle" from ever being reported (seen
  // once in CI, a 3-minute hang); the editor's heading and its preview frame are what axe reads.
  await expect(page.getByRole("main").getByRole("heading", { level: 1 })).toBeVisible();
  await expect(page.locator("main iframe")).toBeVisible();
  await audit(page, "a template editor");

  // The audit trail, and an entry's details.
  await auditPath(page, "/admin/audit");
  await openDisclosure(page.getByRole("table", { name: "Audit entries" }), "Details");
  await audit(page, "/admin/audit with an entry's details open");

  // The member's page, its compromise form open, then sent: the member's next request is the
  // reset task, checked in the member's own browser.
  await openUser(page, memberEmail);
  await audit(page, "a user's page");
  const actions = page.getByRole("region", { name: "Actions", exact: true });
  await openDisclosure(actions, "Set password as compromised…");
  await audit(page, "a user's page with the compromise form open");
  await actions.getByLabel("Reason", { exact: true }).fill("Accessibility check (browser test)");
  await actions.getByRole("button", { name: "Set password as compromised", exact: true }).click();
  await expect(page.getByRole("main").getByRole("status").filter({ hasText: /^Password set as compromised/ })).toBeVisible();
  await audit(page, "a user's page with a compromised password");

  await signInToResetTask(member.page, memberEmail, MEMBER_PASSWORD);
  await expectPath(member.page, "/reset-task");
  await audit(member.page, "/reset-task");
});

test("the danger dialogs of the Security page work with the keyboard alone", async () => {
  const page = admin.page;
  await visit(page, "/admin/security");

  const opener = page.getByText("Set all passwords as compromised…", { exact: true });
  const dialog = dangerDialog(page, "Set all passwords as compromised…");
  await tabTo(page, opener);
  await page.keyboard.press("Enter");
  await expect(dialog).toHaveJSProperty("open", true);
  // The focus moved into the dialog, on its first field.
  await expect(dialog.getByLabel("And sign out every session now")).toBeFocused();

  // Filled with the keyboard.
  await page.keyboard.press("Tab");
  await expect(dialog.getByLabel(/Sign me out too/)).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(dialog.getByLabel("Reason", { exact: true })).toBeFocused();
  await page.keyboard.type("Keyboard check (browser test)");
  await page.keyboard.press("Tab");
  await expect(dialog.getByLabel("Confirmation", { exact: true })).toBeFocused();
  await page.keyboard.type("not the phrase");

  // Esc closes it, and the focus is back on the button that opened it.
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveJSProperty("open", false);
  await expect(opener).toBeFocused();
  await expectPath(page, "/admin/security");

  // The other danger dialog behaves the same (the same helper).
  const signOutOpener = page.getByText("Sign out everyone…", { exact: true });
  const signOut = dangerDialog(page, "Sign out everyone…");
  await page.keyboard.press("Tab");
  await expect(signOutOpener).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(signOut).toHaveJSProperty("open", true);
  await expect(signOut.getByLabel(/Sign me out too/)).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(signOut).toHaveJSProperty("open", false);
  await expect(signOutOpener).toBeFocused();
});

test("every focusable element of the sign-in and Security pages shows a focus outline", async ({ page }) => {
  await visit(page, "/sign-in");
  expectVisibleFocus(await tabThrough(page), "/sign-in");

  await visit(admin.page, "/admin/security");
  expectVisibleFocus(await tabThrough(admin.page), "/admin/security");
});
