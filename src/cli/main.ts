export async function main(argv: string[]): Promise<number> {
  const x: number = argv.length;
  console.log("hi", x);
  return 0;
}
