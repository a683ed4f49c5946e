import type { APIRequestContext, Locator, Page } from "@playwright/test";
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

// Admin console → API keys: a key is created with two scopes, its secret shown once, used against
// the management API with the `request` fixture (no cookies: the key alone), then revoked in the
// console, after which the same call is refused. Each test names its keys uniquely, so the tests
// share the server with the other specs and need no order.

function unique(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** From the admin console to the API keys page through the admin navigation. */
async function openApiKeys(page: Page): Promise<void> {
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await visit(page, "/admin");
  await page
    .getByRole("navigation", { name: "Admin" })
    .getByRole("link", { name: "API keys" })
    .click();
  await expectPath(page, "/admin/api-keys");
  await expect(page.getByRole("heading", { name: "API keys", exact: true })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Create API key", exact: true })).toBeVisible();
  await settle(page);
}

function createForm(page: Page): Locator {
  return page.getByRole("region", { name: "Create API key" });
}

function scope(page: Page, code: string): Locator {
  return createForm(page).getByRole("checkbox", { name: new RegExp(`^${code} — `) });
}

/** The table row of the key with this name. */
function row(page: Page, name: string): Locator {
  return page.getByRole("table", { name: "API keys" }).getByRole("row").filter({ hasText: name });
}

function secretBox(page: Page): Locator {
  return page.getByRole("region", { name: /^New API key: / });
}

async function callUsers(request: APIRequestContext, secret: string): Promise<number> {
  const response = await request.get("/api/v1/users?limit=5", {
    headers: { Authorization: `Bearer ${secret}` },
  });
  return response.status();
}

test("an admin creates a key, sees its secret once, uses it, then revokes it", async ({
  page,
  request,
}) => {
  await openApiKeys(page);
  const name = `Nightly export ${unique()}`;
  const form = createForm(page);

  await expect(form.getByLabel("Expires in (days)", { exact: true })).toHaveValue("90");
  await form.getByLabel("Name", { exact: true }).fill(name);
  await scope(page, "users:read").check();
  await scope(page, "audit:read").check();
  await form.getByLabel(/^Your password/).fill(ADMIN_PASSWORD);
  await form.getByRole("button", { name: "Create API key" }).click();

  // The secret, once, in a box that says so.
  const box = secretBox(page);
  await expect(box).toBeVisible();
  await expect(box.getByText("Copy this key now: it will not be shown again.")).toBeVisible();
  const secretCode = box.getByTestId("api-key-secret");
  await expect(secretCode).toHaveText(/^kw_live_[0-9a-f]{64}$/);
  const secret = (await secretCode.textContent())!.trim();
  await expect(page.getByRole("main").getByRole("status")).toHaveText(
    "API key created: copy its secret now.",
  );

  // The form is empty again, and the list shows the key by its hint only.
  await expect(form.getByLabel("Name", { exact: true })).toHaveValue("");
  await expect(scope(page, "users:read")).not.toBeChecked();
  await expect(scope(page, "audit:read")).not.toBeChecked();
  await expect(form.getByLabel(/^Your password/)).toHaveValue("");
  await expect(form.getByLabel("Expires in (days)", { exact: true })).toHaveValue("90");
  const listed = row(page, name);
  await expect(listed).toHaveCount(1);
  await expect(listed.getByRole("cell", { name: `${secret.slice(0, 16)}…`, exact: true })).toBeVisible();
  await expect(listed.getByRole("cell", { name: "users:read, audit:read", exact: true })).toBeVisible();
  await expect(listed.getByText("Active", { exact: true })).toBeVisible();
  await expect(listed.getByRole("cell", { name: new RegExp(`UTC by ${ADMIN_EMAIL}$`) })).toBeVisible();
  await expect(listed.getByRole("cell", { name: "never", exact: true })).toBeVisible();

  // The key alone opens the management API.
  expect(await callUsers(request, secret)).toBe(200);

  // After a reload the secret is gone for good; the row records the use.
  const response = await visit(page, "/admin/api-keys");
  expect(response.status()).toBe(200);
  expect(await response.text()).not.toContain(secret);
  await expect(secretBox(page)).toHaveCount(0);
  await expect(page.getByText(secret)).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);
  await expect(row(page, name).getByRole("cell", { name: "never", exact: true })).toHaveCount(0);

  // Revoke, after confirming.
  await row(page, name).getByText("Revoke…", { exact: true }).click();
  await expect(row(page, name).getByText(`Revoke ${name}?`, { exact: false })).toBeVisible();
  await row(page, name).getByRole("button", { name: "Revoke key" }).click();
  await expect(row(page, name).getByText("Revoked", { exact: true })).toBeVisible();
  await expect(row(page, name).getByText("Revoke…", { exact: true })).toHaveCount(0);
  await expect(page.getByRole("main").getByRole("status")).toHaveText("API key revoked.");

  // The same call is refused from now on.
  expect(await callUsers(request, secret)).toBe(401);
  await visit(page, "/admin/api-keys");
  await expect(row(page, name).getByText("Revoked", { exact: true })).toBeVisible();
});

test("a key without a scope is refused next to the scopes and nothing is created", async ({
  page,
}) => {
  await openApiKeys(page);
  const name = `No scope ${unique()}`;
  const form = createForm(page);
  await form.getByLabel("Name", { exact: true }).fill(name);
  await form.getByLabel(/^Your password/).fill(ADMIN_PASSWORD);
  await form.getByRole("button", { name: "Create API key" }).click();

  await expect(
    page.getByRole("group", { name: "Scopes" }).getByText("Choose at least one scope."),
  ).toBeVisible();
  await expect(secretBox(page)).toHaveCount(0);
  // What was typed stays, and nothing was created.
  await expect(form.getByLabel("Name", { exact: true })).toHaveValue(name);
  await expect(page.getByRole("main").getByText(name)).toHaveCount(0);
  await visit(page, "/admin/api-keys");
  await expect(page.getByRole("main").getByText(name)).toHaveCount(0);
});
