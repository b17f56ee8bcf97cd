// Validates a CycloneDX 1.5 JSON file with the CycloneDX project's own validator
// (@cyclonedx/cyclonedx-library's JsonStrictValidator, installed by scripts/setup.sh into
// /opt/xbuild-test-node). Prints "valid" and exits 0, or prints the errors and exits 1; a
// validator that cannot run exits 2.
const CDX = require('@cyclonedx/cyclonedx-library');
const fs = require('fs');
const validator = new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot5);
validator.validate(fs.readFileSync(process.argv[2], 'utf8')).then((errors) => {
  if (errors === null) {
    console.log('valid');
    process.exit(0);
  }
  console.log(JSON.stringify(errors, null, 1));
  process.exit(1);
}).catch((e) => {
  console.error(`the CycloneDX validator cannot run: ${e}`);
  process.exit(2);
});
