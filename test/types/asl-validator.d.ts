declare module "asl-validator" {
  interface AslValidatorResult {
    readonly isValid: boolean;
    readonly errors: readonly unknown[];
  }
  export default function aslValidator(definition: unknown): AslValidatorResult;
}
