/**
 * Watch a policy file for changes. The folder is watched, not just the file: Kubernetes updates
 * a mounted ConfigMap by swapping a `..data` symlink, which an inotify watch on the old file
 * never sees.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export function watchPolicyFile(file: string, onChange: () => void): FSWatcher {
  const name = basename(file);
  return watch(dirname(file), (_event, changed) => {
    if (changed !== null && changed !== name && !changed.startsWith('..')) return;
    onChange();
  });
}
