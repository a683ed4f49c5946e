import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  MEMBER_PASSWORD,
  expect,
  expectPath,
  signIn,
  signUp,
  test,
  uniqueEmail,
  visit,
} from "./support";

test("the admin signs in and reaches the admin console", async ({ page }) => {
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);

  const link = page.getByRole("main").getByRole("link", { name: "Admin console" });
  await expect(link).toBeVisible();
  await link.click();

  await expectPath(page, "/admin");
  await expect(page.getByRole("heading", { name: "Admin console" })).toBeVisible();

  // Loading the page directly works too (server-side render, status 200).
  const response = await visit(page, "/admin");
  expect(response.status()).toBe(200);
  await expect(page.getByRole("heading", { name: "Admin console" })).toBeVisible();
});

test("a member is denied the admin console with status 403", async ({ page }) => {
  const email = uniqueEmail("member");
  await signUp(page, email, MEMBER_PASSWORD);
  await signIn(page, email, MEMBER_PASSWORD);

  const response = await visit(page, "/admin");
  expect(response.status()).toBe(403);
  await expect(page.getByRole("heading", { name: "Access denied" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Admin console" })).toHaveCount(0);
});

test("an anonymous visitor is sent to sign in, with the way back", async ({ page }) => {
  await visit(page, "/admin");

  await expect(page).toHaveURL(
    (url) => url.pathname === "/sign-in" && url.searchParams.get("next") === "/admin",
  );
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Admin console" })).toHaveCount(0);
});
