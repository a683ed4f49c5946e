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
import type { Page } from "@playwright/test";

// The instance-wide incident action: every existing password (the admin's too) becomes
// compromised and every session is signed out. It changes the whole server for good, so this file
// is named to run last (files run alphabetically, one worker) and signs the admin in only once:
// after it, an admin *sign-in* would land on the reset task. Keep it the last spec file.

const PHRASE = "COMPROMISE ALL PASSWORDS";
const REASON = "Credential dump of the whole instance (browser test)";

test.beforeEach(() => requireMailSink());

async function openCompromiseDialog(page: Page): Promise<void> {
  await page.locator("summary", { hasText: "Set all passwords as compromised…" }).click();
  await expect(page.getByRole("heading", { name: "Set all passwords as compromised" })).toBeVisible();
  await expect(page.getByLabel("Confirmation", { exact: true }).first()).toBeVisible();
}

/** Fills and submits the dialog; the admin's password only if the step-up asks for it. */
async function submitCompromiseAll(page: Page, confirmation: string): Promise<void> {
  const form = page.getByRole("button", { name: "Set all passwords as compromised", exact: true });
  await page.getByLabel("Reason", { exact: true }).first().fill(REASON);
  await page.getByLabel("Confirmation", { exact: true }).first().fill(confirmation);
  const stepUp = page.getByLabel("Your password", { exact: true });
  if (await stepUp.first().isVisible()) await stepUp.first().fill(ADMIN_PASSWORD);
  await form.click();
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

  await openCompromiseDialog(page);
  const impact = page.getByRole("status").filter({ hasText: /^Affects / });
  await expect(impact).toBeVisible();
  await expect(impact).toContainText("users with a password and signs out");
  const impactMatch = (await impact.innerText()).match(/^Affects (\d+) users with a password/);
  expect(impactMatch, `impact text: ${await impact.innerText()}`).toBeTruthy();
  expect(Number(impactMatch![1]), "the admin and both members at least").toBeGreaterThanOrEqual(3);
  // Both dialogs say it; the first is this one (the other is closed).
  await expect(page.getByText("your password is not asked again").first()).toBeVisible();
  await screenshot(page, "security-dialog-open");

  // A wrong phrase is refused and changes nothing.
  await submitCompromiseAll(page, "compromise all passwords please");
  await expect(page.getByRole("alert").filter({ hasText: "exactly to confirm" })).toBeVisible();
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
  await openCompromiseDialog(page);
  await submitCompromiseAll(page, PHRASE);
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
      .filter({ has: page.getByRole("cell", { name: "instance.passwords_compromised", exact: true }) })
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
