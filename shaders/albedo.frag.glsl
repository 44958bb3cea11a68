// Albedo: the surface colour with no lighting at all: base colour × vertex colour
// (× base colour texture when the material has one). glTF stores these linear; the
// colorspace chunk encodes to the canvas's sRGB.

uniform vec3 baseColor;
uniform float opacity;
#ifdef DD3D_MAP
uniform sampler2D baseMap;
#endif

varying vec3 vColor;
varying vec2 vUv;

void main() {
  vec4 c = vec4(baseColor * vColor, opacity);
#ifdef DD3D_MAP
  c *= texture2D(baseMap, vUv);
#endif
  gl_FragColor = c;
  #include <colorspace_fragment>
}
