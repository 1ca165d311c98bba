// Merges the profile and the recent orders into what the account page renders.

const OPEN_STATUSES = new Set(["PLACED", "SHIPPED"]);

function formatAmount(cents, currency) {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  const units = Math.floor(abs / 100);
  const rest = String(abs % 100).padStart(2, "0");
  return `${sign}${units}.${rest} ${currency}`;
}

export default async function (input, ctx) {
  const { profile, orders, ordersAvailable = true } = input;
  const currency = profile.preferredCurrency ?? "EUR";

  if (!ordersAvailable) {
    ctx.log.warn("orders service unavailable; dashboard for", profile.id, "has no orders");
  }

  // Totals are per currency; orders paid in another currency are listed but not summed.
  const counted = orders.filter((o) => o.status !== "CANCELLED" && o.currency === currency);
  const recentSpendCents = counted.reduce((sum, o) => sum + o.totalCents, 0);
  const newest = orders.map((o) => o.placedAt).sort().at(-1) ?? null;

  return {
    user: {
      id: profile.id,
      name: profile.displayName,
      email: profile.email,
      tier: profile.tier ?? "standard",
      memberSince: profile.memberSince,
    },
    summary: {
      ordersAvailable,
      recentOrderCount: orders.length,
      openOrderCount: orders.filter((o) => OPEN_STATUSES.has(o.status)).length,
      recentSpendCents,
      currency,
      lastOrderAt: newest,
    },
    recentOrders: orders.map((o) => ({
      id: o.id,
      placedAt: o.placedAt,
      status: o.status,
      total: formatAmount(o.totalCents, o.currency),
      open: OPEN_STATUSES.has(o.status),
    })),
  };
}
