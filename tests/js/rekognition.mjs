// The JavaScript SDK's RekognitionClient, unchanged, against facelake serve.
// Endpoint and credentials come the standard way: AWS_ENDPOINT_URL_REKOGNITION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION. Usage: node rekognition.mjs FACE.jpg OTHER.jpg
import { readFileSync } from "node:fs";
import {
  RekognitionClient, DetectFacesCommand, CompareFacesCommand, CreateCollectionCommand,
  IndexFacesCommand, SearchFacesByImageCommand, DescribeCollectionCommand, paginateListFaces,
} from "@aws-sdk/client-rekognition";

const [face, other] = process.argv.slice(2).map((p) => readFileSync(p));
const client = new RekognitionClient({});
const out = {};
const detected = await client.send(new DetectFacesCommand({ Image: { Bytes: face }, Attributes: ["ALL"] }));
out.detect = { faces: detected.FaceDetails.length, smile: detected.FaceDetails[0].Smile, requestId: detected.$metadata.requestId };
const compared = await client.send(new CompareFacesCommand({ SourceImage: { Bytes: face }, TargetImage: { Bytes: other } }));
out.compare = { matches: compared.FaceMatches.length, similarity: compared.FaceMatches[0]?.Similarity };
await client.send(new CreateCollectionCommand({ CollectionId: "js" }));
const indexed = await client.send(new IndexFacesCommand({ CollectionId: "js", Image: { Bytes: face }, ExternalImageId: "face.jpg" }));
out.index = { faceId: indexed.FaceRecords[0].Face.FaceId };
const found = await client.send(new SearchFacesByImageCommand({ CollectionId: "js", Image: { Bytes: other } }));
out.search = { faceId: found.FaceMatches[0]?.Face.FaceId, similarity: found.FaceMatches[0]?.Similarity };
const described = await client.send(new DescribeCollectionCommand({ CollectionId: "js" }));
out.describe = { faceCount: described.FaceCount, created: described.CreationTimestamp.toISOString() };
let listed = 0;
for await (const page of paginateListFaces({ client, pageSize: 1 }, { CollectionId: "js" })) listed += page.Faces.length;
out.listed = listed;
try {
  await client.send(new DescribeCollectionCommand({ CollectionId: "missing" }));
} catch (e) {
  out.error = { name: e.name, status: e.$metadata.httpStatusCode };
}
console.log(JSON.stringify(out));
