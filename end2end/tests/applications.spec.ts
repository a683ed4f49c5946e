import type { Locator, Page } from "@playwright/test";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  expect,
  expectPath,
  settle,
  signIn,
  test,
  visit,
} from "./support";

// Admin console → Applications: the hosts forward-auth lets through. Each test adds applications
// with hosts of its own, so the tests share the server with the other specs and need no order.

function unique(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** From the admin console to the Applications page through the admin navigation. */
async function openApplications(page: Page): Promise<void> {
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await visit(page, "/admin");
  await page
    .getByRole("navigation", { name: "Admin" })
    .getByRole("link", { name: "Applications" })
    .click();
  await expectPath(page, "/admin/applications");
  await expect(page.getByRole("heading", { name: "Applications", exact: true })).toBeVisible();
  await expect(
    page.getByText("A request for a host no enabled application matches is refused."),
  ).toBeVisible();
  await settle(page);
}

function form(page: Page): Locator {
  return page.getByRole("main").locator("form").filter({ has: page.getByLabel("Host") });
}

/** The table row of the application with this host. */
function row(page: Page, host: string): Locator {
  return page
    .getByRole("table", { name: "Applications" })
    .getByRole("row")
    .filter({ hasText: host });
}

async function add(page: Page, name: string, host: string): Promise<void> {
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Host", { exact: true }).fill(host);
  await page.getByRole("button", { name: "Add application" }).click();
  await expect(row(page, host)).toBeVisible();
}

test("an admin adds an application and sees it listed", async ({ page }) => {
  await openApplications(page);
  const id = unique();
  const name = `Wiki ${id}`;
  const host = `wiki-${id}.example.com`;

  await expect(form(page).getByLabel("admin", { exact: true })).toBeChecked();
  await expect(form(page).getByLabel("member", { exact: true })).toBeChecked();
  await expect(form(page).getByLabel("Enabled", { exact: true })).toBeChecked();
  await add(page, name, host);

  const listed = row(page, host);
  await expect(listed.getByRole("cell", { name, exact: true })).toBeVisible();
  await expect(listed.getByRole("cell", { name: "admin, member", exact: true })).toBeVisible();
  await expect(listed.getByText("Enabled", { exact: true })).toBeVisible();
  await expect(listed.getByRole("cell", { name: "never", exact: true })).toBeVisible();
  await expect(page.getByRole("main").getByRole("status")).toHaveText("Application saved.");
  // The form is empty again for the next one.
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue("");

  // A fresh page load (server-side render) lists it too.
  const response = await visit(page, "/admin/applications");
  expect(response.status()).toBe(200);
  await expect(row(page, host)).toBeVisible();
});

test("a bad host shows its error next to the field and adds nothing", async ({ page }) => {
  await openApplications(page);
  const name = `Broken ${unique()}`;
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Host", { exact: true }).fill("https://app.example.com/path");
  await page.getByRole("button", { name: "Add application" }).click();

  await expect(page.getByText(/^Enter a host name such as app\.example\.com/)).toBeVisible();
  await expect(page.getByLabel("Host", { exact: true })).toHaveAttribute("aria-invalid", "true");
  // What was typed stays, and nothing was added.
  await expect(page.getByLabel("Host", { exact: true })).toHaveValue(
    "https://app.example.com/path",
  );
  await expect(page.getByText(name)).toHaveCount(0);
  await visit(page, "/admin/applications");
  await expect(page.getByText(name)).toHaveCount(0);
});

test("an admin edits, disables and removes an application", async ({ page }) => {
  await openApplications(page);
  const id = unique();
  const name = `Grafana ${id}`;
  const host = `grafana-${id}.example.com`;
  await add(page, name, host);

  // Edit: the same form, filled in; members are no longer let in.
  await row(page, host).getByRole("link", { name: `Edit ${name}` }).click();
  await expect(page.getByRole("heading", { name: `Edit ${name}` })).toBeVisible();
  await expect(page.getByLabel("Host", { exact: true })).toHaveValue(host);
  await form(page).getByLabel("member", { exact: true }).uncheck();
  await page.getByRole("button", { name: "Save changes" }).click();
  await expectPath(page, "/admin/applications");
  await expect(page.getByRole("heading", { name: "Add application" })).toBeVisible();
  await expect(row(page, host).getByRole("cell", { name: "admin", exact: true })).toBeVisible();

  // Disable, then the row offers to enable it again.
  await row(page, host).getByRole("button", { name: `Disable ${name}` }).click();
  await expect(row(page, host).getByText("Disabled", { exact: true })).toBeVisible();
  await expect(row(page, host).getByRole("button", { name: `Enable ${name}` })).toBeVisible();

  // Remove, after confirming.
  await row(page, host).getByText("Remove…", { exact: true }).click();
  await expect(row(page, host).getByText(/are refused from then on/)).toBeVisible();
  await row(page, host).getByRole("button", { name: "Remove application" }).click();
  await expect(row(page, host)).toHaveCount(0);
  await expect(page.getByRole("main").getByRole("status")).toHaveText("Application removed.");
});
