import { describeUploadsAcrossReplicas } from './uploads.replicas.suite.js';

describeUploadsAcrossReplicas('fs');
