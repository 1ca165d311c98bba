// Returns a user with their cached profile.
import dayjs from "dayjs";

export default async function (input, ctx) {
  const user = await ctx.connectors.users.get_user({ id: input.id });
  return { user, fetched_at: dayjs().toISOString() };
}
