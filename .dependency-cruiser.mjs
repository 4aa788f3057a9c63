// The layers of src/, checked by `npm run lint` (depcruise). Imports point one way, down:
//
//   operator, cli             the processes and commands: may import everything below
//   controllers               per-kind wiring of the runtime to the reconcilers
//   reconcilers | datapath    the two engines (the operator's and the replicas'): not each other
//   azure                     Azure clients and the external-resource contract
//   runtime, kube             the generic operator runtime; Kubernetes client helpers
//   api | util                the generated API types and names; small helpers that know nothing of src/
//
// Type-only imports count (tsPreCompilationDeps): a type pointing up the layers couples them as much as a
// value does. The sandbox (src/sandbox today, the top-level sandbox/ package next) stands beside the
// product: nothing in src/ may depend on it, so the product never knows it is talking to a sandbox.

/** Folders of src/ by layer; a module may import its own layer's folder and the layers below. */
const LAYERS = [
  ['util'],
  ['api'],
  ['runtime', 'kube'],
  ['azure'],
  ['reconcilers', 'datapath'],
  ['controllers'],
  ['operator', 'cli'],
];

const folders = (names) => `^src/(${names.join('|')})/`;

/** One rule per layer: its modules import nothing from the layers above it. */
const layerRules = LAYERS.slice(0, -1).map((layer, index) => ({
  name: `layer-${layer.join('-')}`,
  comment: `${index === 0 ? 'src/util holds helpers that know nothing of the rest of src/ (not even the API types), so anything may use them. ' : ''}src/{${layer.join(',')}} sits below src/{${LAYERS.slice(index + 1).flat().join(',')}}: a lower layer must not import a higher one (move the shared piece down instead).`,
  severity: 'error',
  from: { path: folders(layer) },
  to: { path: folders(LAYERS.slice(index + 1).flat()) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'kube-below-runtime',
      comment: 'src/kube is the plain Kubernetes client layer the generic runtime builds on (informers, leader election): it must not import src/runtime.',
      severity: 'error',
      from: { path: '^src/kube/' },
      to: { path: '^src/runtime/' },
    },
    {
      name: 'reconcilers-and-datapath-apart',
      comment: 'The reconcilers (operator) and the datapath (replicas) are separate processes on one layer; what both need lives below them (azure, kube, api, util).',
      severity: 'error',
      from: { path: '^src/(reconcilers|datapath)/' },
      // $1 is the folder the import starts in: a folder may import itself, not the other one.
      to: { path: '^src/(reconcilers|datapath)/', pathNot: '^src/$1/' },
    },
    {
      name: 'no-sandbox-in-product',
      comment: 'The product must not know it is talking to a sandbox (DESIGN §4): nothing in src/ outside src/sandbox imports the sandbox, whether src/sandbox or the top-level sandbox/ package.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/sandbox/' },
      to: { path: '^(src/sandbox|sandbox)/' },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles make load order fragile and layers meaningless: move the shared piece into a module both can import.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|sandbox)/',
    exclude: { path: '^sandbox/node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
