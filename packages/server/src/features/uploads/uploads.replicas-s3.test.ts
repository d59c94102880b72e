import { describeUploadsAcrossReplicas } from '../../testing/uploads-across-replicas.suite.js';

describeUploadsAcrossReplicas('s3');
