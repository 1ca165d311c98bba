export default async function (input) { return input; }
