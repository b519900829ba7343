import test from 'ava';
import { ImageRef } from '../core/plan/spec.js';

const accepted = [
  'busybox:1',
  'repo/trainer:1.0',
  'my-org/sub_team/trainer:v2',
  'localhost/trainer:1',
  'localhost:5000/team/trainer:1',
  'registry.example.com/x:1',
  // A registry host is a DNS name, case-insensitive: the reference grammar allows uppercase there.
  'Registry.Example.com/x:1',
  'REGISTRY.local:5000/team/x:1',
  `busybox@sha256:${'a'.repeat(64)}`,
];

const refused = [
  // Without '.', ':' or "localhost" the first component is a repository path, not a host.
  'MyOrg/trainer:1',
  'My/Trainer:1',
  'myorg/Trainer:1',
  'Busybox:1',
  'registry.example.com/Team/x:1',
  'Not An Image:1',
  'bad_host.example.com/x:1',
  `${'a'.repeat(256)}:1`,
];

for (const image of accepted) test(`accepts the image ${image.slice(0, 40)}`, (t) => t.true(ImageRef.safeParse(image).success));

for (const image of refused) {
  test(`refuses the image ${image.slice(0, 40)}`, (t) => {
    const r = ImageRef.safeParse(image);
    t.false(r.success);
    t.regex(r.error!.issues[0]!.message, /not an image name/);
  });
}
