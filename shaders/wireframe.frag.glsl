// Wireframe with hidden lines removed: every triangle is filled, and fragments near an edge
// (a barycentric coordinate close to 0) take the line colour. fwidth keeps lines about
// lineWidth pixels wide at any zoom. Needs the DD3D_BARYCENTRIC attribute (the page
// un-indexes the geometry and adds it).

uniform vec3 lineColor;
uniform vec3 fillColor;
uniform float lineWidth;

varying vec3 vViewNormal;
varying vec3 vBarycentric;

void main() {
  vec3 a = smoothstep(vec3(0.0), fwidth(vBarycentric) * lineWidth, vBarycentric);
  float edge = 1.0 - min(min(a.x, a.y), a.z);
  float shade = 0.7 + 0.3 * abs(normalize(vViewNormal).z);
  gl_FragColor = vec4(mix(fillColor * shade, lineColor, edge), 1.0);
  #include <colorspace_fragment>
}
