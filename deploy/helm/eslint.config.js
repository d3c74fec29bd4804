// The workspace's lint, plus one allowance for this package: the tests read rendered Kubernetes manifests, which
// are untyped JSON. Their shape is checked by the Kubernetes schemas (kubernetes-models) at run time instead.
import root from '../../eslint.config.js';

export default [
  ...root,
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
];
