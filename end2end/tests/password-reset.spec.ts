import { newPerson } from "./incident-support";
import { expectSettledMailCount, mailsTo, requireMailSink, waitForMail } from "./mail";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  MEMBER_PASSWORD,
  expect,
  expectPath,
  fillSignIn,
  settle,
  signIn,
  signUp,
  test,
  uniqueEmail,
  visit,
} from "./support";
import type { Page } from "@playwright/test";

// Another strong password, different from MEMBER_PASSWORD.
const NEW_PASSWORD = "Cobalt-Prairie-Heron-6043";

const SENT_NOTICE = /^If an account exists for that email address/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The `href`s of the links in an HTML mail, with character references decoded. */
function hrefs(html: string): string[] {
  const decode = (value: string) =>
    value
      .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
      .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(parseInt(dec, 10)))
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
  return [...html.matchAll(/<a\s[^>]*href="([^"]*)"/gi)].map((m) => decode(m[1]));
}

/** Asks for a reset link from the sign-in page, the way a user gets there. */
async function requestResetLink(page: Page, email: string): Promise<void> {
  await visit(page, "/sign-in");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expectPath(page, "/forgot-password");
  await expect(page.getByRole("heading", { name: "Forgot your password?" })).toBeVisible();
  await settle(page);

  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(page.getByText(SENT_NOTICE)).toBeVisible();
}

test.beforeEach(() => requireMailSink());

test("forgot password: the mailed link sets a new password, once", async ({ page, baseURL }) => {
  const email = uniqueEmail("reset");
  await signUp(page, email, MEMBER_PASSWORD);

  await requestResetLink(page, email);

  const mail = await waitForMail(email, "Reset your Keywarden password");
  const linkPattern = new RegExp(
    `${escapeRegExp(baseURL!)}/reset-password\\?token=[0-9a-f]{64}(?![0-9A-Za-z])`,
  );
  const link = mail.text.match(linkPattern)?.[0];
  expect(link, `reset link in the mail text:\n${mail.text}`).toBeTruthy();
  expect(hrefs(mail.html), "the HTML part links to the same address").toContain(link!);

  // The link opens the form for a new password.
  await visit(page, link!);
  await expect(page.getByRole("heading", { name: "Choose a new password" })).toBeVisible();
  await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel("Repeat new password", { exact: true }).fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Set new password" }).click();

  await expectPath(page, "/sign-in");
  await expect(page.getByText(/Your password was changed/)).toBeVisible();
  await settle(page);

  // The old password no longer works...
  await fillSignIn(page, email, MEMBER_PASSWORD);
  await expect(
    page.getByRole("alert").filter({ hasText: "Incorrect email or password." }),
  ).toBeVisible();
  await expectPath(page, "/sign-in");

  // ...the new one does.
  await visit(page, "/sign-in");
  await signIn(page, email, NEW_PASSWORD);

  // The link worked once: opening it again says so and offers a new one.
  await visit(page, link!);
  await expect(page.getByRole("heading", { name: "Choose a new password" })).toBeVisible();
  await expect(
    page
      .getByRole("alert")
      .filter({ hasText: "This reset link is invalid or has already been used." }),
  ).toBeVisible();
  await expect(page.getByLabel("New password", { exact: true })).toHaveCount(0);
  const again = page.getByRole("link", { name: "Request a new link" });
  await expect(again).toBeVisible();
  await again.click();
  await expectPath(page, "/forgot-password");
  await expect(page.getByRole("heading", { name: "Forgot your password?" })).toBeVisible();

  // The owner is told that the password changed.
  await waitForMail(email, /^Your .*password was changed/);
});

test("forgot password for an unknown address: same answer, no mail", async ({ browser, page }) => {
  const email = uniqueEmail("nobody");

  await requestResetLink(page, email);

  // Once the server's outbox has sent everything queued so far (an admin can read it), nothing
  // came for that address.
  const admin = await newPerson(browser, "the admin");
  await signIn(admin.page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await expectSettledMailCount(admin.page, email, () => true, 0);
  expect(await mailsTo(email)).toEqual([]);
  await admin.done();
});
