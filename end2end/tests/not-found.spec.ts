import { expect, test, visit } from "./support";

test("an unknown path answers 404 with a Page not found page", async ({ page }) => {
  const response = await visit(page, `/no-such-page-${Date.now()}`);

  expect(response.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});
