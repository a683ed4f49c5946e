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
import type { Locator, Page } from "@playwright/test";
import {
  expectSignedOut,
  newPerson,
  openUser,
  screenshot,
  signInToResetTask,
  submitNewPassword,
  verificationCode,
  verifyCode,
} from "./incident-support";

// Incident response for one account: the admin sets a member's password as compromised, the
// member is signed out and must prove their e-mail and choose a new password at the next sign-in,
// and both steps land in the audit trail. Each test has a member of its own. (The instance-wide
// action is in instance-wide.spec.ts, on a server of its own: it compromises every password, the
// admin's too.)

const NEW_PASSWORD = "Cobalt-Prairie-Heron-6043";
const REASON = "Found in a credential dump (browser test)";

test.beforeEach(() => requireMailSink());

/** The "Set password as compromised…" dialog in the Actions panel of a user's page, opened. */
async function openCompromiseDialog(page: Page): Promise<Locator> {
  const actions = page.getByRole("region", { name: "Actions", exact: true });
  await actions.getByText("Set password as compromised…", { exact: true }).click();
  await expect(actions.getByLabel("Reason", { exact: true })).toBeVisible();
  return actions;
}

test("the admin sets a member's password as compromised; the member resets it at sign-in", async ({
  browser,
  page,
}) => {
  // The member, in a browser of their own.
  const memberEmail = uniqueEmail("compromised");
  const member = await newPerson(browser, "the member");
  await signUp(member.page, memberEmail, MEMBER_PASSWORD);
  await signIn(member.page, memberEmail, MEMBER_PASSWORD);

  // The admin (the fixture's page: another browser context).
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await openUser(page, memberEmail);

  const passwordPanel = page.getByRole("region", { name: "Password", exact: true });
  await expect(passwordPanel.getByText("Compromised", { exact: true })).toHaveCount(0);

  const actions = await openCompromiseDialog(page);
  const signOutToo = actions.getByLabel("Also sign out all sessions");
  await expect(signOutToo).toBeVisible();
  await expect(signOutToo).toBeChecked();
  await actions.getByLabel("Reason", { exact: true }).fill(REASON);
  await actions.getByRole("button", { name: "Set password as compromised", exact: true }).click();

  await expect(page.getByText("Password set as compromised.")).toBeVisible();
  await expect(passwordPanel.getByText("Compromised", { exact: true })).toBeVisible();
  await expect(passwordPanel.getByText(REASON)).toBeVisible();
  await settle(page);
  await screenshot(page, "user-details-compromised");

  // The member's session died with it.
  await expectSignedOut(member.page);

  // The old password still signs in, but only to the reset task.
  await signInToResetTask(member.page, memberEmail, MEMBER_PASSWORD);
  const code = await verificationCode(memberEmail);
  await screenshot(member.page, "reset-task-code-step");
  // No other page is reachable meanwhile.
  await visit(member.page, "/account");
  await expectPath(member.page, "/reset-task");
  await expect(member.page.getByLabel("Code", { exact: true })).toBeVisible();

  await verifyCode(member.page, code);

  // The compromised password cannot be chosen again.
  await submitNewPassword(member.page, MEMBER_PASSWORD);
  const newPassword = member.page.getByLabel("New password", { exact: true });
  await expect(newPassword).toHaveAccessibleDescription(/compromised/);
  await expect(newPassword).toHaveAttribute("aria-invalid", "true");
  await expectPath(member.page, "/reset-task");

  await submitNewPassword(member.page, NEW_PASSWORD);
  await expectPath(member.page, "/account");
  await expect(member.page.getByText(/Your password was changed/)).toBeVisible();
  await expect(member.page.getByRole("main").getByText(`Signed in as ${memberEmail}`)).toBeVisible();
  await settle(member.page);

  // The admin sees the reset as done.
  await page.reload();
  await settle(page);
  await expect(passwordPanel.getByText("Was compromised", { exact: true })).toBeVisible();
  await expect(passwordPanel.getByText("Compromised", { exact: true })).toHaveCount(0);

  await member.done();
});

test("the audit trail records the compromise and the reset, and its chain is intact", async ({
  browser,
  page,
}) => {
  // A member of this test: the admin sets the password as compromised, the member resets it at
  // the next sign-in (the steps the test above checks one by one).
  const memberEmail = uniqueEmail("audited");
  const member = await newPerson(browser, "the member");
  await signUp(member.page, memberEmail, MEMBER_PASSWORD);
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await openUser(page, memberEmail);
  const actions = await openCompromiseDialog(page);
  await actions.getByLabel("Reason", { exact: true }).fill(REASON);
  await actions.getByRole("button", { name: "Set password as compromised", exact: true }).click();
  await expect(page.getByText("Password set as compromised.")).toBeVisible();
  await signInToResetTask(member.page, memberEmail, MEMBER_PASSWORD);
  await verifyCode(member.page, await verificationCode(memberEmail));
  await submitNewPassword(member.page, NEW_PASSWORD);
  await expectPath(member.page, "/account");
  await member.done();

  await visit(page, "/admin/audit");
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();

  // Newest first: both events are on the first page, once each.
  const entries = page.getByRole("table", { name: "Audit entries" });
  await expect(entries).toBeVisible();
  const rowsOf = (action: string) =>
    entries
      .getByRole("row")
      .filter({ has: page.getByRole("cell", { name: action, exact: true }) })
      .filter({ hasText: memberEmail });
  // The actions in words (the page's wording of user.password_compromised, reset_task.completed).
  const ACTIONS = ["Password set as compromised", "New password chosen after a compromise"];
  for (const action of ACTIONS) {
    await expect(rowsOf(action), `audit rows ${action} for ${memberEmail}`).toHaveCount(1);
  }
  const compromised = rowsOf("Password set as compromised");
  await expect(compromised).toContainText(REASON);
  await expect(compromised).toContainText(ADMIN_EMAIL);

  // Filtering by the target user shows them too.
  await page.getByLabel("Target user email", { exact: true }).fill(memberEmail);
  await page.getByRole("button", { name: "Apply filters" }).click();
  await expect(page).toHaveURL((url) => url.searchParams.get("target") === memberEmail);
  for (const action of ACTIONS) {
    await expect(
      entries.getByRole("row").filter({ has: page.getByRole("cell", { name: action, exact: true }) }),
      `audit rows ${action} for the target ${memberEmail}`,
    ).toHaveCount(1);
  }
  await settle(page);

  await page.getByRole("button", { name: "Verify chain" }).click();
  await expect(page.getByRole("status").filter({ hasText: /^Chain intact: \d+ entries$/ })).toBeVisible();
  await screenshot(page, "audit-trail");
});
