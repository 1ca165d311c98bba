export default async function (input) { return { ok: true }; }
