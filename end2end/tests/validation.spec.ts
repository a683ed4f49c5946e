import {
  MEMBER_PASSWORD,
  expect,
  expectPath,
  fillSignIn,
  fillSignUp,
  signUp,
  test,
  uniqueEmail,
  visit,
} from "./support";

test("sign-up rejects a password shorter than 12 characters", async ({ page }) => {
  const email = uniqueEmail("short");

  await fillSignUp(page, email, "Short-pw-1");

  await expect(page.getByText(/at least 12 characters/)).toBeVisible();
  await expectPath(page, "/sign-up");
  await expect(page.getByRole("heading", { name: "Create your account" })).toBeVisible();

  // Nothing was created: the address is still free.
  await signUp(page, email, MEMBER_PASSWORD);
});

test("sign-up with an address that already has an account answers like a new one", async ({ page }) => {
  const email = uniqueEmail("duplicate");
  await signUp(page, email, MEMBER_PASSWORD);

  // The same answer as a new address (no hint that the account exists)...
  await signUp(page, email, "Other-Granite-Willow-5520");

  // ...and nothing changed: the first password still signs in, the second does not.
  await fillSignIn(page, email, "Other-Granite-Willow-5520");
  await expect(
    page.getByRole("alert").filter({ hasText: "Incorrect email or password." }),
  ).toBeVisible();
});

test("sign-in with a wrong password or an unknown e-mail shows an alert", async ({ page }) => {
  const email = uniqueEmail("wrong");
  await signUp(page, email, MEMBER_PASSWORD);

  await fillSignIn(page, email, "Wrong-Copper-Orchid-7731");
  await expect(
    page.getByRole("alert").filter({ hasText: "Incorrect email or password." }),
  ).toBeVisible();
  await expectPath(page, "/sign-in");

  // Same answer for an address without an account: no hint about which part was wrong.
  await visit(page, "/sign-in");
  await fillSignIn(page, uniqueEmail("nobody"), MEMBER_PASSWORD);
  await expect(
    page.getByRole("alert").filter({ hasText: "Incorrect email or password." }),
  ).toBeVisible();
  await expectPath(page, "/sign-in");

  // Still signed out.
  await visit(page, "/account");
  await expectPath(page, "/sign-in");
});
