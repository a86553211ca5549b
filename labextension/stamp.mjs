// Records which sources the build in ../necto_nb/labextension was made from, so a test can
// tell when the shipped build is older than its source (tests/labextension/test_build.py
// computes the same digest).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'install.json', 'schema', 'src'];

function files(path) {
  return statSync(path).isDirectory()
    ? readdirSync(path).flatMap(name => files(join(path, name).split('\\').join('/')))
    : [path];
}

const digest = createHash('sha256');
for (const path of SOURCES.flatMap(files).sort()) {
  digest.update(path + '\0').update(readFileSync(path)).update('\0');
}
writeFileSync('../necto_nb/labextension/sources.sha256', digest.digest('hex') + '\n');
