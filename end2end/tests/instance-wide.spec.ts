import { requireMailSink } from "./mail";
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
import {
  expectSignedOut,
  newPerson,
  screenshot,
  signInToResetTask,
  verificationCode,
} from "./incident-support";
import type { Locator, Page } from "@playwright/test";

// The instance-wide incident action: every existing password (the admin's too) becomes
// compromised and every session is signed out. It changes the whole server for good, so this spec
// runs against a server of its own (project "instance-wide-server" in playwright.config.ts), with
// its own members, and no other spec sees it. It signs the admin in only once: after the action, an
// admin *sign-in* lands on the reset task. Keep it the only test on that server.

const PHRASE = "COMPROMISE ALL PASSWORDS";
const REASON = "Credential dump of the whole instance (browser test)";

test.beforeEach(() => requireMailSink());

/**
 * The "Set all passwords as compromised" dialog (a disclosure of the Incident response panel; the
 * page has another one, "Sign out everyone", with fields of the same names): the group that shows
 * its heading, once opened.
 */
function compromiseDialog(page: Page): Locator {
  return page.getByRole("group").filter({
    has: page.getByRole("heading", { name: "Set all passwords as compromised", exact: true }),
  });
}

async function openCompromiseDialog(page: Page): Promise<Locator> {
  await page.getByText("Set all passwords as compromised…", { exact: true }).click();
  const dialog = compromiseDialog(page);
  await expect(dialog).toHaveCount(1);
  await expect(dialog.getByLabel("Confirmation", { exact: true })).toBeVisible();
  return dialog;
}

/** Fills and submits the dialog; the admin's password only if the step-up asks for it. */
async function submitCompromiseAll(dialog: Locator, confirmation: string): Promise<void> {
  await dialog.getByLabel("Reason", { exact: true }).fill(REASON);
  await dialog.getByLabel("Confirmation", { exact: true }).fill(confirmation);
  const stepUp = dialog.getByLabel("Your password", { exact: true });
  if (await stepUp.isVisible()) await stepUp.fill(ADMIN_PASSWORD);
  await dialog.getByRole("button", { name: "Set all passwords as compromised", exact: true }).click();
}

test("the admin sets every password as compromised and signs out everyone else", async ({
  browser,
  page,
}) => {
  test.setTimeout(120_000);

  // Two members, each in a browser of their own.
  const people = [];
  for (const name of ["first", "second"]) {
    const email = uniqueEmail(`everyone-${name}`);
    const person = await newPerson(browser, `the ${name} member`);
    await signUp(person.page, email, MEMBER_PASSWORD);
    await signIn(person.page, email, MEMBER_PASSWORD);
    people.push({ email, ...person });
  }

  // The admin signs in once, now: less than 5 minutes ago, so no step-up password.
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await visit(page, "/admin/security");
  await expect(page.getByRole("heading", { name: "Security", exact: true })).toBeVisible();
  const watermark = page.getByRole("listitem").filter({ hasText: /password compromise|are compromised/ });
  const watermarkBefore = await watermark.innerText();
  expect(watermarkBefore, "a server of this spec's own, never compromised before").toContain(
    "No instance-wide password compromise so far.",
  );

  let dialog = await openCompromiseDialog(page);
  const impact = dialog.getByRole("status").filter({ hasText: /^Affects / });
  await expect(impact).toBeVisible();
  await expect(impact).toContainText("users with a password and signs out");
  const impactMatch = (await impact.innerText()).match(/^Affects (\d+) users with a password/);
  expect(impactMatch, `impact text: ${await impact.innerText()}`).toBeTruthy();
  expect(Number(impactMatch![1]), "the admin and both members at least").toBeGreaterThanOrEqual(3);
  await expect(dialog.getByText("your password is not asked again")).toBeVisible();
  await screenshot(page, "security-dialog-open");

  // A wrong phrase is refused and changes nothing.
  await submitCompromiseAll(dialog, "compromise all passwords please");
  await expect(dialog.getByRole("alert").filter({ hasText: "exactly to confirm" })).toBeVisible();
  await expectPath(page, "/admin/security");
  await expect(page).not.toHaveURL(/done=compromised/);
  await visit(page, "/admin/security");
  await expect(watermark).toHaveText(watermarkBefore);
  for (const person of people) {
    await visit(person.page, "/account");
    await expectPath(person.page, "/account");
    await expect(person.page.getByRole("main").getByText(`Signed in as ${person.email}`)).toBeVisible();
  }

  // The right phrase does it.
  dialog = await openCompromiseDialog(page);
  await submitCompromiseAll(dialog, PHRASE);
  await expect(page).toHaveURL(
    (url) => url.pathname === "/admin/security" && url.searchParams.get("done") === "compromised",
  );
  await expect(page.getByText("every existing password is now compromised")).toBeVisible();
  await settle(page);
  // The panel is re-read right after the action, without a reload.
  await expect(watermark).toContainText(`by ${ADMIN_EMAIL}: ${REASON}`);

  // The admin's own session was re-issued: still signed in, after a reload too.
  const header = page.getByRole("navigation", { name: "Main" });
  await expect(header.getByRole("link", { name: "Admin console" })).toBeVisible();
  await visit(page, "/admin/security");
  await expectPath(page, "/admin/security");
  await expect(header.getByRole("link", { name: "Admin console" })).toBeVisible();
  await expect(watermark).toContainText("are compromised");
  await expect(watermark).toContainText(`by ${ADMIN_EMAIL}: ${REASON}`);

  // Everyone else is signed out, and their next sign-in is the reset task.
  for (const person of people) {
    await expectSignedOut(person.page);
    await signInToResetTask(person.page, person.email, MEMBER_PASSWORD);
    await verificationCode(person.email);
  }

  // The audit trail has it.
  await visit(page, "/admin/audit");
  await expect(
    page
      .getByRole("table", { name: "Audit entries" })
      .getByRole("row")
      .filter({ has: page.getByRole("cell", { name: "All passwords set as compromised", exact: true }) })
      .filter({ hasText: REASON }),
  ).toHaveCount(1);

  // The admin's password is compromised too: a new sign-in elsewhere gets the reset task.
  const elsewhere = await newPerson(browser, "the admin on another device");
  await signInToResetTask(elsewhere.page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await visit(page, "/admin");
  await expectPath(page, "/admin");
  await expect(page.getByRole("heading", { name: "Admin console" })).toBeVisible();

  await elsewhere.done();
  for (const person of people) await person.done();
});
