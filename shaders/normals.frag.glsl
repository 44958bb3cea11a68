// Normals: the world-space normal as colour, n * 0.5 + 0.5 (+X red, +Y green, +Z blue),
// written as-is (no colour-space encoding: the numbers are the point). Back faces show
// their flipped normal, so double-sided sheets read the same from both sides.

varying vec3 vWorldNormal;

void main() {
  vec3 n = normalize(vWorldNormal) * (gl_FrontFacing ? 1.0 : -1.0);
  gl_FragColor = vec4(n * 0.5 + 0.5, 1.0);
}
