import {
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

test("sign up, sign in, see the account page, sign out", async ({ page }, testInfo) => {
  const email = uniqueEmail("flow");

  await signUp(page, email, MEMBER_PASSWORD);
  await signIn(page, email, MEMBER_PASSWORD);

  // A member's account page has no way into the admin console.
  await expect(page.getByRole("link", { name: "Admin console" })).toHaveCount(0);

  const shot = testInfo.outputPath("account-page.png");
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach("account page", { path: shot, contentType: "image/png" });

  await page.getByRole("main").getByRole("button", { name: "Sign out" }).click();
  await expectPath(page, "/sign-in");
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await settle(page);
  // Nothing on the page (header included) still presents the visitor as signed in.
  await expect(page.getByRole("button", { name: "Sign out" })).toHaveCount(0);
  await expect(page.getByText(email)).toHaveCount(0);

  // The session is gone: the account page sends the visitor to sign in again.
  await visit(page, "/account");
  await expectPath(page, "/sign-in");
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(page.getByText(`Signed in as ${email}`)).toHaveCount(0);
});
