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

test("sign-up rejects an e-mail address that already has an account", async ({ page }) => {
  const email = uniqueEmail("duplicate");
  await signUp(page, email, MEMBER_PASSWORD);

  await fillSignUp(page, email, "Other-Granite-Willow-5520");

  await expect(page.getByText("An account with this email already exists.")).toBeVisible();
  await expectPath(page, "/sign-up");
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
