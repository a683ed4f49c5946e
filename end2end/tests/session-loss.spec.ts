import type { Locator, Page } from "@playwright/test";
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
import { newPerson, newSignedInMember, openUser, screenshot } from "./incident-support";

// A session that ends (or is restricted to the reset task) while its page is open: the next
// in-app navigation goes to sign-in (and back afterwards) or to the reset task, never to a page
// shell that says "Please sign in to continue.". And without the wasm, every link and action
// still works as plain HTML.

const REASON = "Seen in a credential dump (browser test)";

function actionsOf(page: Page): Locator {
  return page.getByRole("region", { name: "Actions", exact: true });
}

/** The admin, on the member's page, signs every session of `email` out. */
async function adminSignsOut(page: Page, email: string): Promise<void> {
  await openUser(page, email);
  await actionsOf(page).getByRole("button", { name: "Sign out all sessions", exact: true }).click();
  await expect(page.getByRole("main").getByRole("status").filter({ hasText: /signed out\.$/ })).toBeVisible();
}

/** The admin sets the member's password as compromised, leaving the sessions signed in. */
async function adminCompromises(page: Page, email: string): Promise<void> {
  await openUser(page, email);
  const actions = actionsOf(page);
  await actions.getByText("Set password as compromised…", { exact: true }).click();
  await actions.getByLabel("Also sign out all sessions").uncheck();
  await actions.getByLabel("Reason", { exact: true }).fill(REASON);
  await actions.getByRole("button", { name: "Set password as compromised", exact: true }).click();
  await expect(page.getByRole("main").getByRole("status").filter({ hasText: /^Password set as compromised/ })).toBeVisible();
}

test("a session signed out while its page is open goes to sign-in on the next click, and comes back after", async ({
  browser,
  page,
}) => {
  const { email, member } = await newSignedInMember(browser, "ended");

  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await adminSignsOut(page, email);

  // The member's account page is still on screen; "Devices" is an in-app navigation.
  await member.page.getByRole("main").getByRole("link", { name: "Devices", exact: true }).click();
  await expectPath(member.page, "/sign-in");
  expect(new URL(member.page.url()).searchParams.get("next")).toBe("/account/devices");
  await expect(member.page.getByText("Please sign in to continue.")).toHaveCount(0);
  await settle(member.page);
  await screenshot(member.page, "session-loss-sign-in");

  // Signing in again lands where the member was going.
  await member.page.getByLabel("Email", { exact: true }).fill(email);
  await member.page.getByLabel("Password", { exact: true }).fill(MEMBER_PASSWORD);
  await member.page.getByRole("button", { name: "Sign in" }).click();
  await expectPath(member.page, "/account/devices");
  await expect(member.page.getByRole("heading", { level: 1, name: "Devices" })).toBeVisible();
  await member.done();
});

test("a session restricted to the reset task goes there on the next click", async ({ browser, page }) => {
  const { email, member } = await newSignedInMember(browser, "restricted");

  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await adminCompromises(page, email);

  await member.page.getByRole("main").getByRole("link", { name: "Devices", exact: true }).click();
  await expectPath(member.page, "/reset-task");
  await expect(member.page.getByRole("heading", { level: 1, name: "Reset your password" })).toBeVisible();
  await member.done();
});

test("without JavaScript, links are links and actions are forms that work", async ({ browser }) => {
  const email = uniqueEmail("nojs");
  const setup = await newPerson(browser, "the member (with JavaScript)");
  await signUp(setup.page, email, MEMBER_PASSWORD);
  await setup.done();

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/sign-in");
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(MEMBER_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expectPath(page, "/account");
  await expect(page.getByRole("main").getByText(`Signed in as ${email}`)).toBeVisible();

  // Every link of the page has a real address, and every button belongs to a form that posts.
  const links = page.locator("a");
  for (const link of await links.all()) {
    await expect(link, "a link without an address").toHaveAttribute("href", /^(\/|#|https?:)/);
  }
  const buttons = page.locator("button");
  for (const button of await buttons.all()) {
    const form = button.locator("xpath=ancestor::form[1]");
    await expect(form, "a button outside any form").toHaveCount(1);
    await expect(form).toHaveAttribute("method", /^post$/i);
    await expect(form).toHaveAttribute("action", /^\//);
  }

  // A link, then an action, as plain HTML.
  await page.getByRole("main").getByRole("link", { name: "Devices", exact: true }).click();
  await expectPath(page, "/account/devices");
  await expect(page.getByRole("heading", { level: 1, name: "Devices" })).toBeVisible();
  await page.getByRole("banner").getByRole("button", { name: "Sign out" }).click();
  await page.goto("/account");
  await expectPath(page, "/sign-in");
  await context.close();
});
